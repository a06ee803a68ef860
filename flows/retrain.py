"""The ``retrain`` flow: the catalog as it stands (what the daily ingest added) through every training stage."""

from __future__ import annotations

from typing import Any

from prefect import flow
from prefect.states import Completed, State
from pydantic import Field

from flows.stages import Run, prepare, train_and_gate
from genre.config import RunSettings
from genre.data.catalog import data_version
from genre.serving import registry


@flow(name="retrain", log_prints=True)
def retrain(
    config: str | None = Field(None, description="TOML file with config sections (see genre/config.py)"),
    home: str | None = Field(None, description="GENRE_HOME: catalog, store, models, runs (default: $GENRE_HOME)"),
    settings: RunSettings = RunSettings(),
    force: bool = Field(False, description="train even when the champion learnt from these very clips"),
) -> dict[str, Any] | State:
    """Validate -> features -> split -> train -> ensemble -> evaluate -> gate -> package, on the catalog; no ingestion.

    When the usable clips are those the champion learnt from (same data version), it ends Completed with
    "nothing new to train on" and trains nothing, unless ``force``.
    """
    cfg = settings.config(config, home)
    if not cfg.catalog_path.is_file():
        raise FileNotFoundError(f"no catalog in {cfg.home}: ingest data first (ingest/daily, `genre ingest`)")
    run = Run.start(cfg)
    with run.exclusive():  # a retrain that waited for another sees the champion that one promoted
        _, table = prepare(run)
        version = data_version(table)
        if not force and version == registry.champion_data_version(cfg.home):
            message = (f"nothing new to train on: the {len(table)} usable clips of the catalog (data version "
                       f"{version}) are those champion {registry.champion(cfg.home)['tag']} learnt from")
            print(message)
            return Completed(message=message, data={"run": run.id, "data_version": version, "promoted": False,
                                                    "decision": message})
        return train_and_gate(run, source=f"catalog {cfg.catalog_path}")
