"""The `genre-pipeline` flow on the real GTZAN clips (Prefect's local API), then a rerun that must
not promote a model that merely ties the champion."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from flows.pipeline import genre_pipeline
from genre.config import RunSettings
from genre.serving import registry
from genre.serving.predictor import Predictor

pytestmark = pytest.mark.slow

OVERRIDES = {"classical.search_iterations": 2, "classical.cv_folds": 2, "classical.models": ["logreg", "xgboost"],
             "cnn.epochs": 1, "cnn.image_size": 32, "gate.min_roc_auc": 0.6}
SETTINGS = RunSettings.from_dotted(OVERRIDES)


@pytest.fixture(scope="module")
def first_run(prefect_api, gtzan_mini: Path, tmp_path_factory) -> tuple[Path, dict]:
    home = tmp_path_factory.mktemp("gtzan") / "home"
    return home, genre_pipeline(data=str(gtzan_mini), home=str(home), settings=SETTINGS)


def test_real_clips_train_and_promote(first_run) -> None:
    home, summary = first_run
    assert len(summary["labels"]) == 10
    assert summary["promoted"], summary["decision"]
    # ten genres, chance is 0.5: the ensemble must be clearly better on held-out real clips
    assert summary["test"]["ensemble"]["roc_auc"] > 0.75
    assert summary["test"]["ensemble"]["clips"] >= 10
    run_dir = home / "runs" / summary["run"]
    for name in ("evaluation/roc.png", "evaluation/confusion-ensemble.png", "evaluation/report.html",
                 "evaluation/gate.json", "report.md", "summary.json"):
        assert (run_dir / name).stat().st_size > 0
    gate = json.loads((run_dir / "evaluation" / "gate.json").read_text())
    assert gate["promote"] is True and gate["champion"] is None and gate["candidate"] == summary["chosen"]
    registry.use_store(home)
    predictor = Predictor.load(registry.model_path(summary["tag"]))
    assert predictor.labels == summary["labels"]
    assert predictor.combiner.name == summary["chosen"]
    meta = registry.model_info(summary["tag"])["metadata"]
    assert meta["test_split"] == summary["test_split"] and meta["gate"]["verdict"] == "promote"
    assert meta["data_version"] == summary["data_version"] and len(meta["commit"]) >= 7


def test_rerun_ties_and_keeps_the_champion(prefect_api, first_run, gtzan_mini: Path) -> None:
    home, summary = first_run
    before = (home / "champion.json").read_text()
    again = genre_pipeline(data=str(gtzan_mini), home=str(home), settings=SETTINGS)
    assert again["test_split"] == summary["test_split"]  # the frozen split did not move
    assert again["test"]["ensemble"] == summary["test"]["ensemble"]  # same data, same seeds, same scores
    assert again["promoted"] is False
    assert "does not beat the champion" in again["decision"]
    assert (home / "champion.json").read_text() == before
    assert registry.champion(home)["tag"] == summary["tag"]
    gate = json.loads((home / "runs" / again["run"] / "evaluation" / "gate.json").read_text())
    assert gate["champion"] == summary["tag"] and gate["difference"] == 0.0  # re-scored on the same clips
