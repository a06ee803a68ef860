"""One training run as its stage flows see it: config, id, folder, stage times, and what each stage hands on.

Every stage is a Prefect flow of its own (ingest, validate, genre-features, train, evaluate-and-gate, package),
called by the parent flow (``genre-pipeline``, ``retrain``), each with a timeout (flows/timing.py); only network
work retries (the ingest downloads). A stage's failure ends the parent Failed with :class:`StageFailed`, whose
message names the stage and the reason.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from flows.timing import Stopwatch
from genre.atomic import locked_by
from genre.config import Config
from genre.serving import registry

if TYPE_CHECKING:
    import pandas as pd

    from flows.train import Training
    from genre.evaluation.evaluate import Evaluation
    from genre.evaluation.gate import GateRecord
    from genre.features.dataset import FeatureSet

class StageFailed(RuntimeError):
    """A stage of a run failed: the message names the stage, then the error it raised."""

    def __init__(self, stage: str, error: BaseException) -> None:
        super().__init__(f"stage {stage} failed: {type(error).__name__}: {error}")
        self.stage = stage


class Run:
    """One training run: its config, id, folder (``<home>/runs/<id>``), stage times, and what the stages so far
    produced (``fs`` and ``table`` from features, ``training`` from train, ``evaluation`` and ``record`` from
    evaluate-and-gate), read by the stages after them.

    Stage flows take the Run as their parameter. It has ``__slots__`` and so no JSON form: Prefect records it as
    ``<Run>``, and the feature table and mel arrays it carries stay in memory instead of going to the API.
    """

    __slots__ = ("cfg", "id", "dir", "watch", "fs", "table", "training", "evaluation", "record")

    def __init__(self, cfg: Config, run_id: str, run_dir: Path) -> None:
        self.cfg, self.id, self.dir, self.watch = cfg, run_id, run_dir, Stopwatch()
        self.fs: FeatureSet | None = None
        self.table: pd.DataFrame | None = None
        self.training: Training | None = None
        self.evaluation: Evaluation | None = None
        self.record: GateRecord | None = None

    @classmethod
    def start(cls, cfg: Config) -> Run:
        registry.use_store(cfg.home)
        run_id = f"{datetime.now(UTC):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:6]}"  # unique when runs start together
        run_dir = cfg.runs_dir / run_id
        run_dir.mkdir(parents=True, exist_ok=True)
        return cls(cfg, run_id, run_dir)

    @contextmanager
    def exclusive(self) -> Iterator[None]:
        """One training run per home at a time (``<home>/run.lock``): a second run says which run it waits for,
        then waits. Held from validation to packaging; a killed run's lock goes with its process."""
        holder = f"run {self.id} (pid {os.getpid()}, since {datetime.now(UTC):%Y-%m-%d %H:%M:%S} UTC)"
        with locked_by(self.cfg.home / "run", holder, print):  # print as the flow logs it
            yield

    @staticmethod
    @contextmanager
    def stage(name: str) -> Iterator[None]:
        """The call of stage flow ``name``: what it raises leaves as :class:`StageFailed` naming it (a stage nested
        in another is named itself)."""
        try:
            yield
        except StageFailed:
            raise
        except Exception as exc:
            raise StageFailed(name, exc) from exc
