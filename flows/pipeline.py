"""The ``genre-pipeline`` flow: ingest a source, then the stages of every training run (flows/stages.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prefect import flow
from pydantic import Field

from flows.ingest import ingest
from flows.stages import Run, prepare, train_and_gate
from genre.config import RunSettings
from genre.data.demo import make_demo_dataset


@flow(name="genre-pipeline", log_prints=True)
def genre_pipeline(
    data: str | None = Field(None, description="folder <root>/<genre>/<clip>, url,label[,start,end] manifest CSV "
                                               "or AudioSet segment CSV; empty: the SYNTHETIC demo set"),
    config: str | None = Field(None, description="TOML file with config sections (see genre/config.py)"),
    home: str | None = Field(None, description="GENRE_HOME: catalog, store, models, runs (default: $GENRE_HOME)"),
    settings: RunSettings = RunSettings(),
) -> dict[str, Any]:
    """Ingest -> validate -> features -> split -> train -> ensemble -> evaluate -> gate -> package.

    Always trains, even when the catalog did not change (``retrain`` is the flow that skips then).
    """
    run = Run.start(settings.config(config, home))
    with run.stage("ingest"), run.watch.stage("ingest"):
        source = Path(data) if data else make_demo_dataset(run.cfg.home / "demo-synthetic")
        if not data:
            print(f"no data given: using the SYNTHETIC demo set in {source}")
        ingest(source=str(source), cfg=run.cfg)
    with run.exclusive():
        prepare(run)
        return train_and_gate(run, source=str(source))
