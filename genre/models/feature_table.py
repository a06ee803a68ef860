"""Train the classical models from an existing feature table (CSV or Parquet) instead of audio.

Every numeric column other than the label and group columns is a feature; other columns are ignored (and named).
Rows sharing a group value are segments of one clip: they stay in one fold and are averaged into one prediction.
Splitting, search, selection and report are the pipeline's own.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import joblib
import numpy as np
import pandas as pd

from genre.atomic import atomic_path, write_json, write_text
from genre.config import Config
from genre.models import ensemble
from genre.models.classical_report import ClassicalReport, build_report
from genre.models.split import assign_splits
from genre.models.train import ClassicalResult, Split, classical_held_apart, train_classical


class TableError(ValueError):
    """A feature table that cannot be trained on; the message names the file and what to fix."""


@dataclass
class FeatureTable:
    """Features, string labels and clip ids of one table."""

    path: Path
    X: np.ndarray
    labels: np.ndarray
    clips: np.ndarray
    features: list[str]
    ignored: list[str]


def read_table(path: str | Path, label_column: str, group_column: str | None = None,
               features: list[str] | None = None) -> FeatureTable:
    """Read and check a table; ``features`` (from a training table) are required columns of a test table."""
    path = Path(path)
    if not path.is_file():
        raise TableError(f"{path}: no such file")
    suffix = path.suffix.lower()
    if suffix == ".csv":
        frame = pd.read_csv(path)
    elif suffix in (".parquet", ".pq"):
        frame = pd.read_parquet(path)
    else:
        raise TableError(f"{path}: unsupported table type {suffix!r}; give a .csv or .parquet file")
    for role, column in (("label", label_column), ("group", group_column)):
        if column is not None and column not in frame:
            columns = ", ".join(map(str, frame.columns))
            raise TableError(f"{path}: no {role} column {column!r}; its columns are: {columns}")
    if frame.empty:
        raise TableError(f"{path}: the table has no rows")
    for column in filter(None, (label_column, group_column)):
        missing = frame[column].isna().to_numpy()
        if missing.any():
            raise TableError(f"{path}: column {column!r} is empty in {missing.sum()} row(s), first at row "
                             f"{int(np.argmax(missing))}; fill or drop those rows")
    keys = {label_column, group_column}
    numeric = [c for c in frame.columns if c not in keys and pd.api.types.is_numeric_dtype(frame[c])
               and not pd.api.types.is_bool_dtype(frame[c])]
    ignored = [str(c) for c in frame.columns if c not in keys and c not in numeric]
    if features is not None:
        absent = [c for c in features if c not in frame]
        if absent:
            raise TableError(f"{path}: lacks feature column(s) of the training table: {', '.join(absent)}")
        numeric = list(features)
    if not numeric:
        raise TableError(f"{path}: no numeric feature columns besides {label_column!r}")
    X = frame[numeric].to_numpy(dtype=np.float64)
    bad = ~np.isfinite(X)
    if bad.any():
        col = int(np.argmax(bad.any(axis=0)))
        raise TableError(f"{path}: column {numeric[col]!r} has {int(bad[:, col].sum())} missing or infinite "
                         f"value(s), first at row {int(np.argmax(bad[:, col]))}; fill or drop them "
                         f"({int(bad.any(axis=1).sum())} row(s) affected in all)")
    labels = frame[label_column].astype(str).to_numpy()
    clips = (frame[group_column].astype(str) if group_column else pd.Series(frame.index).map("row-{}".format))
    clips = clips.to_numpy()
    if group_column:
        mixed = pd.Series(labels).groupby(clips).nunique()
        if (mixed > 1).any():
            raise TableError(f"{path}: group {mixed[mixed > 1].index[0]!r} has rows with different labels; rows of "
                             f"one group ({group_column!r}) must be segments of one clip")
    return FeatureTable(path, X, labels, clips, [str(c) for c in numeric], ignored)


@dataclass
class TableRun:
    """What ``train_table`` made: the models, the report and the saved best model."""

    result: ClassicalResult
    report: ClassicalReport
    model_path: Path


def _split(table: FeatureTable, rows: np.ndarray, index: dict[str, int]) -> Split:
    return Split(X=table.X[rows], mels=np.zeros((int(rows.sum()), 0)),
                 y=np.array([index[v] for v in table.labels[rows]], dtype=np.int64), clips=table.clips[rows])


def train_table(table: FeatureTable, cfg: Config, out_dir: str | Path, test: FeatureTable | None = None,
                progress: bool = True) -> TableRun:
    """Search every configured model on the table's training clips, choose on its validation clips and report on
    the test clips: ``test`` (read with ``features=table.features``) or else a held-out share (``cfg.split``)."""
    labels = sorted(set(table.labels))
    if len(labels) < 2:
        raise TableError(f"{table.path}: the label column holds a single class ({labels[0]!r}); "
                         "a classifier needs at least two")
    if test is not None and (unknown := sorted(set(test.labels) - set(labels))):
        raise TableError(f"{test.path}: labels not in the training table: {', '.join(unknown)}")
    index = {label: i for i, label in enumerate(labels)}
    clips = pd.DataFrame({"clip_id": table.clips, "label": table.labels}).drop_duplicates("clip_id")
    assignment = assign_splits(clips, cfg.split.model_copy(update={"test": 0.0}) if test else cfg.split)
    where = pd.Series(table.clips).map(assignment).to_numpy()
    train, val = _split(table, where == "train", index), _split(table, where == "validation", index)
    if test is None:
        measured, name = _split(table, where == "test", index), "held-out test"
        if not len(measured.y):
            raise TableError(f"{table.path}: too few clips per class to hold out a test share; give a test table")
    else:
        measured, name = _split(test, np.ones(len(test.labels), dtype=bool), index), f"test table ({test.path.name})"
    result = train_classical(train, val, cfg, progress=progress)
    probs, y = classical_held_apart(result, train, val)
    selection = ensemble.choose(probs, y, len(labels), ensemble.member_sets(list(result.fitted), result.best, None),
                                cfg.ensemble.methods, cfg.ensemble.folds, cfg.ensemble.seed)
    report = build_report(result, measured, name, labels, cfg.classical, title=f"Classical models on {table.path.name}",
                          selection=selection)
    out = Path(out_dir)
    report.write(out)
    write_text(out / "candidates.csv", pd.DataFrame(selection.rows()).to_csv(index=False))
    chosen = selection.chosen
    model_path = out / f"model-{chosen.name if chosen.method == 'member' else chosen.method}.joblib"
    with atomic_path(model_path) as tmp:  # one pipeline, or the members and how they combine
        joblib.dump(result.fitted[chosen.name].model if chosen.method == "member" else
                    {"members": {m: result.fitted[m].model for m in chosen.members}, "combiner": chosen}, tmp)
    write_json(out / "model.json", {"model": chosen.name, "ensemble": chosen.describe(), "labels": labels,
                                    "features": table.features, "table": str(table.path),
                                    "params": {m: result.fitted[m].params for m in chosen.members},
                                    "config": json.loads(cfg.classical.model_dump_json())})
    return TableRun(result, report, model_path)
