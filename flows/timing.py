"""Stage timings printed at the end of a flow run, and the stage flows' timeouts."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

HOUR = 3600
# Seconds a stage flow may run before Prefect fails it: a hang ends, a big real data set on a few cores still fits.
TIMEOUTS = {"ingest": 12 * HOUR, "validate": 2 * HOUR, "features": 8 * HOUR, "train": 24 * HOUR,
            "evaluate-and-gate": 4 * HOUR, "package": HOUR}


class Stopwatch:
    """Collects (stage, seconds) and prints each stage as it ends."""

    def __init__(self) -> None:
        self.stages: list[tuple[str, float]] = []

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        print(f"==> {name}")
        try:
            yield
        finally:
            seconds = time.perf_counter() - start
            self.stages.append((name, seconds))
            print(f"<== {name}: {seconds:.1f} s")

    def table(self) -> str:
        total = sum(s for _, s in self.stages)
        rows = [f"  {name:<16}{seconds:8.1f} s" for name, seconds in self.stages]
        return "\n".join(["stage times:", *rows, f"  {'total':<16}{total:8.1f} s"])

    def markdown(self) -> str:
        rows = [f"| {name} | {seconds:.1f} |" for name, seconds in self.stages]
        return "\n".join(["| stage | seconds |", "|---|---|", *rows])
