"""One drift episode, one retrain: the last retrain the monitor started, in ``<home>/monitoring/retrain.json``,
read and written under a lock across processes, so two monitors at once cannot both start one."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from genre.atomic import locked, write_json


def state_file(home: str | Path) -> Path:
    return Path(home) / "monitoring" / "retrain.json"


@dataclass
class Slot:
    """Whether a retrain may start now (``free``), the last one started (``last``) and when its cool-down ends."""

    path: Path
    last: dict[str, Any] | None
    ends: datetime | None

    @property
    def free(self) -> bool:
        return self.ends is None or datetime.now(UTC) >= self.ends

    def take(self, flow_run: str, reasons: list[str]) -> None:
        """Record a retrain started now (flow run id, why)."""
        started = {"at": datetime.now(UTC).isoformat(timespec="seconds"), "flow_run": flow_run, "reasons": reasons}
        previous = json.loads(self.path.read_text()) if self.path.is_file() else {}
        write_json(self.path, {"last": started, "started": previous.get("started", 0) + 1})
        self.last = started


@contextmanager
def retrain_slot(home: str | Path, cooldown_hours: float) -> Iterator[Slot]:
    """The retrain slot under an exclusive lock for the block: start a retrain and :meth:`Slot.take` it inside."""
    path = state_file(home)
    with locked(path):
        last = json.loads(path.read_text())["last"] if path.is_file() else None
        ends = datetime.fromisoformat(last["at"]) + timedelta(hours=cooldown_hours) if last else None
        yield Slot(path, last, ends)
