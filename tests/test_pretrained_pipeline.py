"""The pipeline with the pretrained member on real clips, and without it (``pretrained.checkpoint = none``)."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from flows.pipeline import genre_pipeline
from genre.config import RunSettings
from genre.serving import registry
from genre.serving.predictor import PRETRAINED, Predictor

pytestmark = pytest.mark.slow

OVERRIDES = {"classical.search_iterations": 2, "classical.cv_folds": 2, "classical.models": ["logreg"],
             "cnn.epochs": 1, "cnn.image_size": 32, "gate.min_roc_auc": 0.6}


def test_real_clips_with_the_pretrained_member(prefect_api, gtzan_mini: Path, tmp_path: Path) -> None:
    home = tmp_path / "home"
    summary = genre_pipeline(data=str(gtzan_mini), home=str(home), settings=RunSettings.from_dotted(OVERRIDES))
    assert summary["test"][PRETRAINED]["roc_auc"] > 0.9  # the pretrained member is scored on the test clips
    report = (home / "runs" / summary["run"] / "report.md").read_text()
    assert "Pretrained member: MSD_musicnn max_pool + logreg" in report
    assert "train-pretrained" in summary["stages"]
    registry.use_store(home)
    meta = registry.model_info(summary["tag"])["metadata"]
    assert meta["pretrained"] == summary["pretrained"]
    predictor = Predictor.load(registry.model_path(summary["tag"]))
    if PRETRAINED in predictor.members:
        assert summary["pretrained"] == "MSD_musicnn max_pool + logreg"
        assert (predictor.pretrained.checkpoint, predictor.pretrained.layer) == ("MSD_musicnn", "max_pool")
        assert predictor.classify_file(next((gtzan_mini / "metal").glob("*.wav"))).genre in summary["labels"]
    else:
        assert summary["pretrained"] == "none" and predictor.pretrained is None


def test_checkpoint_none_runs_without_the_member_and_says_so_once(prefect_api, tmp_path: Path, caplog) -> None:
    caplog.set_level(logging.INFO)  # the flow's prints are Prefect run logs
    settings = RunSettings.from_dotted({**OVERRIDES, "pretrained.checkpoint": "none"})
    summary = genre_pipeline(home=str(tmp_path / "home"), settings=settings)  # the SYNTHETIC demo set
    said = [m for m in caplog.messages if "pretrained member off" in m]
    assert said == ["pretrained member off: pretrained.checkpoint = none"]
    assert PRETRAINED not in summary["test"] and summary["pretrained"] == "none"
    assert "train-pretrained" not in summary["stages"]
    report = (tmp_path / "home" / "runs" / summary["run"] / "report.md").read_text()
    assert "Pretrained member: off" in report
