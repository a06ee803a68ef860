"""Training tasks of the pipeline: the frozen split, the classical models with their report, and VGG16."""

from __future__ import annotations

from pathlib import Path

from prefect import task
from prefect.artifacts import create_table_artifact

from genre.config import Config
from genre.models.classical_report import build_report
from genre.models.split import fingerprint, freeze
from genre.models.train import ClassicalResult, Split, train_classical, train_cnn


@task(name="split")
def split_task(table, cfg: Config) -> dict[str, str]:
    assignment = freeze(cfg.split_file, table, cfg.split)
    counts = {s: sum(v == s for v in assignment.values()) for s in ("train", "validation", "test")}
    print(f"clips per split: {counts}; test split {fingerprint(assignment)}")
    return assignment


@task(name="train-classical")
def train_classical_task(train: Split, val: Split, labels: list[str], cfg: Config, run_dir: Path) -> ClassicalResult:
    result = train_classical(train, val, cfg)
    for name, s in result.validation.items():
        f = result.fitted[name]
        print(f"{name:<14} cv ROC-AUC {f.cv_roc_auc:.4f}  validation ROC-AUC {s.roc_auc:.4f}  ({f.fit_seconds:.1f} s)")
    for name, reason in result.skipped.items():
        print(f"{name:<14} skipped: {reason}")
    print(f"best classical model: {result.best}")
    report = build_report(result, val, "validation", labels, cfg.classical, title="Classical models (validation)")
    report.write(run_dir / "classical")
    create_table_artifact(key="genre-classical-models", table=report.rows(),
                          description=f"classical models on validation clips; chosen: {result.best}; "
                                      f"report: {run_dir / 'classical' / 'report.html'}")
    return result


@task(name="train-vgg16")
def train_cnn_task(train: Split, val: Split, n_classes: int, cfg: Config):
    trained = train_cnn(train, val, n_classes, cfg)
    print(f"VGG16 (weights: {trained.weights}) trained in {trained.fit_seconds:.1f} s")
    return trained
