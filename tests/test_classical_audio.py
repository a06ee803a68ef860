"""Classical models on segments of the real GTZAN clips: no clip in two folds, clip-level choice beats chance."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from genre.config import load_config
from genre.data.store import sha256_file
from genre.features.dataset import extract_dataset
from genre.models import classical
from genre.models.classical_report import build_report
from genre.models.train import Split, train_classical

GENRES = ("classical", "metal", "pop")


@pytest.fixture(scope="module")
def real_segments(gtzan_mini: Path, tmp_path_factory) -> tuple[Split, Split, list[str]]:
    """Six clips of three genres: four per genre to train on, two to validate on."""
    rows = [{"clip_id": f.stem, "label": g, "sha256": sha256_file(f), "path": str(f)}
            for g in GENRES for f in sorted((gtzan_mini / g).iterdir())[:6]]
    clips = pd.DataFrame(rows)
    cfg = load_config(home=str(tmp_path_factory.mktemp("home")))
    fs = extract_dataset(clips, list(clips["path"]), tmp_path_factory.mktemp("features"), cfg.features,
                         workers=2, progress=False)
    assert not fs.failures
    labels = list(GENRES)
    assignment = {c: "validation" if int(c.split(".")[1]) % 3 == 2 else "train" for c in clips["clip_id"]}
    return Split.of(fs, assignment, "train", labels), Split.of(fs, assignment, "validation", labels), labels


def test_real_segments_never_straddle_folds_or_calibration(real_segments):
    train, _, _ = real_segments
    assert len(train.y) > len(np.unique(train.clips)), "clips are cut into several segments"
    for train_rows, test_rows in classical.grouped_folds(train.y, train.clips, 3, seed=0):
        assert not set(train.clips[train_rows]) & set(train.clips[test_rows])
    svm = classical.fit_pipeline(classical.make_model("svm", 0)[0], train.X, train.y, train.clips,
                                 load_config().classical, seed=0)
    for train_rows, test_rows in svm.named_steps["clf"].cv:
        assert not set(train.clips[train_rows]) & set(train.clips[test_rows])


def test_real_clips_chosen_model_beats_chance(real_segments, tmp_path):
    train, val, labels = real_segments
    cfg = load_config(home=str(tmp_path / "home"), workers=2, **{
        "classical.models": ("svm", "logreg"), "classical.search_iterations": 2, "classical.cv_folds": 2,
        "classical.bootstrap": 200})
    result = train_classical(train, val, cfg, progress=False)
    report = build_report(result, val, "validation", labels, cfg.classical)
    assert report.models[result.best].scores.n_clips == 6
    assert report.models[result.best].scores.roc_auc > 0.8, "chance is 0.5 on three distinct genres"
    files = report.write(tmp_path / "report")
    assert {p.name for p in files} >= {"roc-svm.png", "roc-logreg.png", "roc-all.png", "report.html"}
