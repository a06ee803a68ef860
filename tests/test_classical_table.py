"""`genre train-classical` on feature tables: the report names every model; bad tables give clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from flows.cli import main
from genre.config import load_config
from genre.models.feature_table import TableError, read_table, train_table
from tests.conftest import SHARED_DATA

GTZAN_FEATURES = SHARED_DATA / "gtzan-features" / "features_30_sec.csv"
FAST = ["--iterations", "2", "--folds", "2", "--workers", "2", "--set", "classical.bootstrap=200"]


def feature_frame(n_clips: int = 30, per_clip: int = 3, seed: int = 0) -> pd.DataFrame:
    """Three well separated classes, several rows (segments) per clip, plus a text column to be ignored."""
    rng = np.random.default_rng(seed)
    labels = np.array(["rock", "jazz", "pop"])[np.arange(n_clips) % 3]
    centre = {"rock": [2.0, 0, 0, 1], "jazz": [0, 2.0, 0, -1], "pop": [0, 0, 2.0, 0]}
    rows = []
    for i, label in enumerate(labels):
        for s in range(per_clip):
            f = np.array(centre[label]) + rng.normal(0, 0.8, 4)
            rows.append({"clip": f"clip{i:02d}", "segment": s, "genre": label, "note": f"take {s}",
                         **{f"f{j}": v for j, v in enumerate(f)}})
    return pd.DataFrame(rows)


def run_cli(tmp_path: Path, *args: str) -> int:
    return main(["--home", str(tmp_path / "home"), "train-classical", *args, *FAST])


def test_cli_reports_every_model_on_a_csv(tmp_path, capsys):
    table = tmp_path / "features.csv"
    feature_frame().to_csv(table, index=False)
    out = tmp_path / "out"
    assert run_cli(tmp_path, "--table", str(table), "--label-column", "genre", "--group-column", "clip",
                   "--out", str(out)) == 0
    printed = capsys.readouterr().out
    assert "ignoring non-numeric column(s): note" in printed
    models = ("svm", "logreg", "random_forest", "xgboost")
    md, page = (out / "report.md").read_text(), (out / "report.html").read_text()
    metrics = pd.read_csv(out / "metrics.csv")
    assert list(metrics["model"])[:4] == list(models)  # then the ensembles of them
    assert {"average(svm+logreg+random_forest+xgboost)", "stacking(svm+logreg+random_forest+xgboost)"} <= set(
        metrics["model"])
    assert (metrics["chosen"] == "yes").sum() == 1
    candidates = pd.read_csv(out / "candidates.csv")
    assert candidates["held_apart_roc_auc"].notna().sum() >= 5 and (candidates["chosen"] == "yes").sum() == 1
    for name in models:
        assert f"## {name}" in md and f"<h2>{name}</h2>" in page and name in printed
        for png in (f"roc-{name}.png", f"confusion-{name}.png"):
            assert (out / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (out / "roc-all.png").is_file()
    assert (metrics["ci95_low"] <= metrics["roc_auc"]).all() and (metrics["roc_auc"] <= metrics["ci95_high"]).all()
    meta = json.loads((out / "model.json").read_text())
    assert meta["model"] == metrics.loc[metrics["chosen"] == "yes", "model"].item()
    assert meta["features"] == ["segment", "f0", "f1", "f2", "f3"] and meta["labels"] == ["jazz", "pop", "rock"]


def test_parquet_with_a_test_table_and_undersampling(tmp_path):
    frame = feature_frame(36, 2, seed=1)
    frame = frame[~frame["clip"].isin([f"clip{i:02d}" for i in range(2, 36, 3)][:6])]  # pop left with 6 of 12
    frame.to_parquet(tmp_path / "train.parquet")
    feature_frame(15, 2, seed=2).to_parquet(tmp_path / "test.parquet")
    cfg = load_config(home=str(tmp_path / "home"), workers=2, **{
        "classical.models": ("logreg", "random_forest"), "classical.search_iterations": 2,
        "classical.cv_folds": 2, "classical.imbalance": "undersample", "classical.bootstrap": 200})
    table = read_table(tmp_path / "train.parquet", "genre", "clip")
    test = read_table(tmp_path / "test.parquet", "genre", "clip", features=table.features)
    run = train_table(table, cfg, tmp_path / "out", test=test, progress=False)
    report = run.report
    assert report.split == "test table (test.parquet)"
    for m in report.models.values():
        assert m.scores.n_clips == 15 and int(m.per_class["support"].sum()) == 15
        assert m.scores.confusion.sum() == 15
    best = report.models[report.best]
    assert best.scores.roc_auc > 0.85, "three well separated classes; chance is 0.5"
    assert run.model_path.is_file()


def test_bad_tables_give_clear_errors(tmp_path, capsys):
    good = feature_frame(12, 1)
    cases = {
        "nan.csv": (good.assign(f2=good["f2"].where(good.index != 4)),
                    "column 'f2' has 1 missing or infinite value(s), first at row 4"),
        "nolabel.csv": (good.drop(columns="genre"), "no label column 'genre'; its columns are: clip"),
        "single.csv": (good.assign(genre="rock"), "single class ('rock'); a classifier needs at least two"),
        "nolabelvalue.csv": (good.assign(genre=good["genre"].where(good.index != 2)), "column 'genre' is empty in 1"),
    }
    for name, (frame, message) in cases.items():
        frame.to_csv(tmp_path / name, index=False)
        assert run_cli(tmp_path, "--table", str(tmp_path / name), "--label-column", "genre") == 2, name
        err = capsys.readouterr().err
        assert name in err and message in err, err
    (tmp_path / "t.json").write_text("{}")
    with pytest.raises(TableError, match="give a .csv or .parquet file"):
        read_table(tmp_path / "t.json", "genre")
    good.to_csv(tmp_path / "good.csv", index=False)
    with pytest.raises(TableError, match="no group column 'clip_id'"):
        read_table(tmp_path / "good.csv", "genre", "clip_id")
    with pytest.raises(TableError, match="lacks feature column.*: f9"):
        read_table(tmp_path / "good.csv", "genre", features=["f0", "f9"])
    mixed = good.assign(clip="same")
    mixed.to_csv(tmp_path / "mixed.csv", index=False)
    with pytest.raises(TableError, match="group 'same' has rows with different labels"):
        read_table(tmp_path / "mixed.csv", "genre", "clip")


def test_real_gtzan_feature_table(tmp_path, capsys):
    if not GTZAN_FEATURES.is_file():
        pytest.skip(f"real feature table not found at {GTZAN_FEATURES} (../shared/data beside the repo)")
    frame = pd.read_csv(GTZAN_FEATURES)
    frame = frame[frame["label"].isin(["classical", "metal", "pop", "reggae"])].groupby("label").head(30)
    frame.to_csv(tmp_path / "gtzan.csv", index=False)
    out = tmp_path / "out"
    assert run_cli(tmp_path, "--table", str(tmp_path / "gtzan.csv"), "--label-column", "label",
                   "--models", "logreg", "svm", "--out", str(out)) == 0
    assert "ignoring non-numeric column(s): filename" in capsys.readouterr().out
    metrics = pd.read_csv(out / "metrics.csv")
    assert list(metrics["model"])[:2] == ["logreg", "svm"] and (metrics["clips"] == 24).all()
    assert set(metrics["model"][2:]) <= {f"{m}(logreg+svm)" for m in ("average", "weighted", "stacking")}
    chosen = metrics[metrics["chosen"] == "yes"].iloc[0]
    assert chosen["roc_auc"] > 0.85, "four real, easily told genres; chance is 0.5"
