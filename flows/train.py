"""The ``train`` stage flow: the frozen split, the feature checks, the classical models with their report, the
pretrained member and VGG16 (classical models cached by content hash, VGG16 from its checkpoint: a rerun resumes)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from prefect import flow, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE

from flows.run import Run
from flows.timing import TIMEOUTS
from flows.validate import validate_features_task
from genre.config import Config
from genre.metrics.plots import markdown_table, plot_training
from genre.models.classical_report import build_report
from genre.models.pretrained import PretrainedMember, train_pretrained
from genre.models.split import fingerprint, freeze
from genre.models.train import ClassicalResult, Split, cv_groups, train_classical, train_cnn
from genre.models.vgg16_training import TrainedCNN
from genre.validation.feature_profile import FeatureProfile


@task(name="split", cache_policy=NO_CACHE)  # never hash the data: resume is by content hash
def split_task(table, cfg: Config) -> dict[str, str]:
    assignment = freeze(cfg.split_file, table, cfg.split)
    counts = {s: sum(v == s for v in assignment.values()) for s in ("train", "validation", "test")}
    print(f"clips per split: {counts}; test split {fingerprint(assignment)}")
    return assignment


@task(name="train-classical", cache_policy=NO_CACHE)
def train_classical_task(train: Split, val: Split, labels: list[str], cfg: Config, run_dir: Path) -> ClassicalResult:
    result = train_classical(train, val, cfg, cache_dir=cfg.home / "classical")
    for name, s in result.validation.items():
        f = result.fitted[name]
        how = "reused from the cache" if name in result.reused else f"{f.fit_seconds:.1f} s"
        print(f"{name:<14} cv ROC-AUC {f.cv_roc_auc:.4f}  validation ROC-AUC {s.roc_auc:.4f}  ({how})")
    fits = [name for name in result.fitted if name not in result.reused]
    print(f"classical models fitted: {', '.join(fits) or 'none'}; reused from the cache: "
          f"{', '.join(result.reused) or 'none'}")
    for name, reason in result.skipped.items():
        print(f"{name:<14} skipped: {reason}")
    print(f"best classical model: {result.best}")
    report = build_report(result, val, "validation", labels, cfg.classical, title="Classical models (validation)")
    report.write(run_dir / "classical")
    create_table_artifact(key="genre-classical-models", table=report.rows(),
                          description=f"classical models on validation clips; chosen: {result.best}; "
                                      f"report: {run_dir / 'classical' / 'report.html'}")
    return result


@task(name="train-pretrained", cache_policy=NO_CACHE)
def train_pretrained_task(train: Split, val: Split, cfg: Config) -> PretrainedMember:
    """The pretrained member: its classical head tuned on the training split's embeddings."""
    member = train_pretrained(train, val, cfg)
    scored = f", validation ROC-AUC {member.validation.roc_auc:.4f}" if member.validation else ""
    print(f"pretrained member {member.describe()}: cv ROC-AUC {member.fitted.cv_roc_auc:.4f}{scored} "
          f"({member.fitted.fit_seconds:.1f} s)")
    return member


@task(name="train-vgg16", cache_policy=NO_CACHE)
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


@dataclass
class Training:
    """What the train stage hands on: the frozen split, each split's data, the training feature ranges, the members."""

    assignment: dict[str, str]
    labels: list[str]
    train: Split
    val: Split
    test: Split
    profile: FeatureProfile
    result: ClassicalResult
    member: PretrainedMember | None
    trained: TrainedCNN


@flow(name="train", log_prints=True, timeout_seconds=TIMEOUTS["train"], validate_parameters=False)
def train_flow(run: Run) -> Training:
    """Split -> validate features -> classical models -> pretrained member -> VGG16, on the run's feature set."""
    cfg, watch, fs, table = run.cfg, run.watch, run.fs, run.table
    with watch.stage("split"):
        assignment = split_task(table, cfg)
    with watch.stage("validate-features"):
        profile = validate_features_task(fs, assignment, cfg, run.dir)
    labels = sorted(table["label"].unique())
    groups = cv_groups(table)
    train, val, test = (Split.of(fs, assignment, name, labels, groups) for name in ("train", "validation", "test"))
    with watch.stage("train-classical"):
        result = train_classical_task(train, val, labels, cfg, run.dir)
    member = None
    if train.E is not None:  # else the features stage said why the pretrained member is off
        with watch.stage("train-pretrained"):
            member = train_pretrained_task(train, val, cfg)
    with watch.stage("train-vgg16"):
        trained = train_cnn_task(train, val, len(labels), cfg, run.dir)
    return Training(assignment, labels, train, val, test, profile, result, member, trained)
