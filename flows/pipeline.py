"""The ``genre-pipeline`` flow: every stage, each a Prefect task that calls the ``genre`` library."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from prefect import flow
from prefect.artifacts import create_markdown_artifact

from flows.evaluate import evaluate_task, gate_task, report_task
from flows.features import run_features
from flows.ingest import ingest
from flows.package import package_task
from flows.timing import Stopwatch
from flows.train import split_task, train_classical_task, train_cnn_task
from flows.validate import validate, validate_features_task
from genre.atomic import write_json, write_text
from genre.config import load_config
from genre.data.catalog import data_version
from genre.data.demo import make_demo_dataset
from genre.evaluation.evaluate import Evaluation
from genre.evaluation.gate import GateRecord
from genre.features.extractor import feature_keys
from genre.models.split import fingerprint
from genre.models.train import Split, cv_groups
from genre.serving import registry


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
        trained = train_cnn_task(train, val, len(labels), cfg, run_dir)
    with watch.stage("evaluate"):
        evaluation = evaluate_task(result, trained, train, val, test, labels, cfg)
    evaluation.predictor.profile = profile  # the training ranges travel with the model
    test_split = fingerprint(assignment)
    test_clips = table[table["clip_id"].map(assignment).eq("test")].reset_index(drop=True)
    facts = {"run": run_id, "data_version": data_version(table), "feature_config": feature_keys(cfg.features),
             "test_split": test_split, "training_seconds": round(sum(s for _, s in watch.stages), 1)}
    packaged: dict[str, Any] = {}
    with registry.transaction(cfg.home) as champions:  # compare and promote under one lock
        with watch.stage("gate"):
            record = gate_task(evaluation, champions.current, test_clips, test, test_split, cfg)
        if record.promote:
            with watch.stage("package"):
                packaged = package_task(evaluation, record, run_dir, facts, cfg)
            champions.promote(packaged, by=f"run {run_id}")
            print(f"champion is now {packaged['tag']}")
    files = report_task(evaluation, record, run_dir)
    print(watch.table())
    summary = {**facts, "source": str(source), "labels": labels, "chosen": evaluation.chosen,
               "test": {k: v.row() for k, v in evaluation.test.items()}, "best_classical": result.best,
               "promoted": record.promote, "decision": record.reason, "stages": dict(watch.stages), **packaged}
    write_json(run_dir / "summary.json", summary)
    _post_results(summary, evaluation, record, watch, run_dir, files)
    return summary


def _post_results(summary: dict[str, Any], evaluation: Evaluation, record: GateRecord, watch: Stopwatch,
                  run_dir: Path, files: list[Path]) -> None:
    synthetic = " (SYNTHETIC demo data)" if "demo-synthetic" in summary["source"] else ""
    verdict = "promoted to champion" if record.promote else "not promoted"
    markdown = "\n\n".join([
        f"# genre pipeline run {summary['run']}{synthetic}",
        f"**Gate: {verdict}.** {record.reason}.",
        evaluation.markdown(),
        "Report and plots: " + ", ".join(f"`{p}`" for p in files),
        "### Stage times", watch.markdown(),
        f"Run folder: `{run_dir}`",
    ])
    create_markdown_artifact(key="genre-pipeline-report", markdown=markdown, description="metrics and gate decision")
    write_text(run_dir / "report.md", markdown + "\n")
    print(f"report: {run_dir / 'evaluation' / 'report.html'}\n{json.dumps(summary['test']['ensemble'])}")
