"""The ``genre-pipeline`` flow: every stage, each a Prefect task that calls the ``genre`` library."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from prefect import flow, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact

from flows.features import run_features
from flows.ingest import ingest
from flows.timing import Stopwatch
from flows.validate import validate, validate_features_task
from genre import registry
from genre.atomic import write_json, write_text
from genre.classical_report import build_report
from genre.config import Config, load_config
from genre.demo import make_demo_dataset
from genre.evaluate import Evaluation, champion_auc, evaluate
from genre.gate import Decision, decide
from genre.predictor import Predictor
from genre.split import fingerprint, freeze
from genre.store import BlobStore
from genre.train import ClassicalResult, Split, cv_groups, train_classical, train_cnn


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


@task(name="evaluate")
def evaluate_task(result: ClassicalResult, trained, val: Split, test: Split, labels: list[str], cfg: Config,
                  run_dir: Path) -> Evaluation:
    evaluation = evaluate(result, trained, val, test, labels, cfg, run_dir)
    print(evaluation.markdown())
    return evaluation


@task(name="gate")
def gate_task(evaluation: Evaluation, test_clips, test: Split, labels: list[str], cfg: Config) -> Decision:
    record = registry.champion(cfg.home)
    champion_score, note = None, ""
    if record:
        champion = Predictor.load(registry.model_path(record["tag"]))
        paths = [str(BlobStore(cfg.store_dir).path(s)) for s in test_clips["sha256"]]
        champion_score, note = champion_auc(champion, test_clips, test, labels, cfg, paths)
    decision = decide(evaluation.roc_auc, cfg.gate.min_roc_auc, champion_score, cfg.gate.min_improvement, note)
    print(f"gate: {'PROMOTE' if decision.promote else 'keep the champion'}: {decision.reason}")
    return decision


@task(name="package")
def package_task(evaluation: Evaluation, run_dir: Path, test_split: str, cfg: Config) -> dict[str, str]:
    metrics = evaluation.test["ensemble"].row()
    folder = evaluation.predictor.save(run_dir / "predictor")
    tag = registry.save_model(folder, cfg.model_name, metadata={"test": metrics, "test_split": test_split},
                              labels={"classical": evaluation.predictor.classical_name, "stage": "champion"})
    bento = registry.build_bento(tag, cfg.model_name)
    registry.promote(cfg.home, {"tag": tag, "bento": bento, "roc_auc": metrics["roc_auc"], "test_split": test_split,
                                "promoted_at": datetime.now(UTC).isoformat(timespec="seconds")})
    print(f"champion is now {tag}; Bento {bento}")
    return {"model": tag, "bento": bento}


@flow(name="genre-pipeline", log_prints=True)
def genre_pipeline(data: str | None = None, config: str | None = None, home: str | None = None,
                   overrides: dict[str, Any] | None = None, dask_address: str | None = None,
                   dask_local: bool | None = None) -> dict[str, Any]:
    """Ingest -> validate -> features -> split -> train -> ensemble -> evaluate -> gate -> package.

    ``data`` is a folder laid out as ``<root>/<genre>/<clip>``, a ``url,label[,start,end]`` manifest CSV
    or an AudioSet segment CSV; without it the run uses the SYNTHETIC demo set. ``overrides`` takes
    dotted config keys, e.g. ``{"cnn.epochs": 2}``. ``dask_address`` ("tcp://host:port") runs the
    feature tasks on that Dask cluster; ``dask_local`` on a temporary local one; neither: on a local
    process pool.
    """
    cfg = load_config(config, home=home, **(overrides or {}), dask_address=dask_address, dask_local=dask_local)
    registry.use_store(cfg.home)
    run_id = f"{datetime.now(UTC):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:6]}"  # unique when runs start together
    run_dir = cfg.runs_dir / run_id
    run_dir.mkdir(parents=True, exist_ok=True)
    watch = Stopwatch()
    with watch.stage("ingest"):
        source = Path(data) if data else make_demo_dataset(cfg.home / "demo-synthetic")
        if not data:
            print(f"no data given: using the SYNTHETIC demo set in {source}")
        ingest(source=str(source), cfg=cfg)
    with watch.stage("validate"):
        validate(cfg=cfg, run_dir=run_dir)
    with watch.stage("features"):
        fs, table = run_features(cfg)
    with watch.stage("split"):
        assignment = split_task(table, cfg)
    with watch.stage("validate-features"):
        profile = validate_features_task(fs, assignment, cfg, run_dir)
    labels = sorted(table["label"].unique())
    groups = cv_groups(table)
    train, val, test = (Split.of(fs, assignment, name, labels, groups) for name in ("train", "validation", "test"))
    with watch.stage("train-classical"):
        result = train_classical_task(train, val, labels, cfg, run_dir)
    with watch.stage("train-vgg16"):
        trained = train_cnn_task(train, val, len(labels), cfg)
    with watch.stage("evaluate"):
        evaluation = evaluate_task(result, trained, val, test, labels, cfg, run_dir)
    evaluation.predictor.profile = profile  # the training ranges travel with the model
    test_split = fingerprint(assignment)
    with watch.stage("gate"):
        test_clips = table[table["clip_id"].map(assignment).eq("test")].reset_index(drop=True)
        decision = gate_task(evaluation, test_clips, test, labels, cfg)
    packaged: dict[str, str] = {}
    if decision.promote:
        with watch.stage("package"):
            packaged = package_task(evaluation, run_dir, test_split, cfg)
    print(watch.table())
    summary = {"run": run_id, "source": str(source), "labels": labels, "test_split": test_split,
               "test": {k: v.row() for k, v in evaluation.test.items()}, "cnn_weight": evaluation.cnn_weight,
               "best_classical": result.best, "promoted": decision.promote, "decision": decision.reason,
               "stages": dict(watch.stages), **packaged}
    write_json(run_dir / "summary.json", summary)
    _post_results(summary, evaluation, decision, watch, run_dir)
    return summary


def _post_results(summary: dict[str, Any], evaluation: Evaluation, decision: Decision, watch: Stopwatch,
                  run_dir: Path) -> None:
    synthetic = " (SYNTHETIC demo data)" if "demo-synthetic" in summary["source"] else ""
    verdict = "promoted to champion" if decision.promote else "not promoted"
    markdown = "\n\n".join([
        f"# genre pipeline run {summary['run']}{synthetic}",
        f"**Gate: {verdict}.** {decision.reason}.",
        evaluation.markdown(),
        "Plots: " + ", ".join(f"`{p}`" for p in evaluation.plots),
        "### Stage times", watch.markdown(),
        f"Run folder: `{run_dir}`",
    ])
    create_markdown_artifact(key="genre-pipeline-report", markdown=markdown, description="metrics and gate decision")
    create_table_artifact(key="genre-test-metrics", table=[{"model": k, **v} for k, v in summary["test"].items()],
                          description="clip-level test metrics of every model")
    write_text(run_dir / "report.md", markdown + "\n")
    print(f"report: {run_dir / 'report.md'}\n{json.dumps(summary['test']['ensemble'])}")
