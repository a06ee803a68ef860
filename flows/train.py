"""Training tasks of the pipeline: the frozen split, the classical models with their report, and VGG16."""

from __future__ import annotations

from pathlib import Path

from prefect import task
from prefect.artifacts import create_markdown_artifact, create_table_artifact

from genre.config import Config
from genre.metrics.plots import markdown_table, plot_training
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
def train_cnn_task(train: Split, val: Split, n_classes: int, cfg: Config, run_dir: Path):
    trained = train_cnn(train, val, n_classes, cfg)
    curves = plot_training(trained.history, run_dir / "vgg16-training.png",
                           f"VGG16 ({trained.mode}, {trained.precision})")
    facts = {"mode": trained.mode, "weights": trained.weights, "precision": trained.precision,
             "best epoch": trained.best_epoch + 1, "epochs run": len(next(iter(trained.history.values()), [])),
             "resumed after epoch": trained.resumed_at, "fit seconds": round(trained.fit_seconds, 1),
             "training images/s": round(trained.images_per_second, 1), "curves": str(curves)}
    print("VGG16: " + "; ".join(f"{k} {v}" for k, v in facts.items()))
    create_markdown_artifact(key="genre-vgg16", description="how VGG16 was trained",
                             markdown="### VGG16 training\n\n" + markdown_table([facts]) + "\n\n"
                                      + "\n".join(f"- {note}" for note in trained.notes))
    return trained
