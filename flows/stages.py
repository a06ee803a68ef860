"""The stages every training run shares: validate -> features -> split -> train -> evaluate -> gate -> package.

``genre-pipeline`` runs them after an ingestion, ``retrain`` on the catalog as it stands.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
from prefect.artifacts import create_markdown_artifact

from flows.evaluate import evaluate_task, gate_task, report_task
from flows.features import run_features
from flows.package import package_task
from flows.timing import Stopwatch
from flows.train import split_task, train_classical_task, train_cnn_task
from flows.validate import validate, validate_features_task
from genre.atomic import write_json, write_text
from genre.config import Config
from genre.data.catalog import data_version
from genre.evaluation.evaluate import Evaluation
from genre.evaluation.gate import GateRecord
from genre.features.dataset import FeatureSet
from genre.features.extractor import feature_keys
from genre.models.split import fingerprint
from genre.models.train import Split, cv_groups
from genre.serving import registry


@dataclass
class Run:
    """One training run: its config, id, folder (``<home>/runs/<id>``) and stage times."""

    cfg: Config
    id: str
    dir: Path
    watch: Stopwatch = field(default_factory=Stopwatch)

    @classmethod
    def start(cls, cfg: Config) -> Run:
        registry.use_store(cfg.home)
        run_id = f"{datetime.now(UTC):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:6]}"  # unique when runs start together
        run_dir = cfg.runs_dir / run_id
        run_dir.mkdir(parents=True, exist_ok=True)
        return cls(cfg, run_id, run_dir)


def prepare(run: Run) -> tuple[FeatureSet, pd.DataFrame]:
    """Validate the catalog (quarantine, or stop on a critical failure), then the features of its usable clips."""
    with run.watch.stage("validate"):
        validate(cfg=run.cfg, run_dir=run.dir)
    with run.watch.stage("features"):
        return run_features(run.cfg)


def train_and_gate(run: Run, fs: FeatureSet, table: pd.DataFrame, source: str) -> dict[str, Any]:
    """Split, train, evaluate, gate against the champion and package a winner; returns the run's summary."""
    cfg, watch = run.cfg, run.watch
    with watch.stage("split"):
        assignment = split_task(table, cfg)
    with watch.stage("validate-features"):
        profile = validate_features_task(fs, assignment, cfg, run.dir)
    labels = sorted(table["label"].unique())
    groups = cv_groups(table)
    train, val, test = (Split.of(fs, assignment, name, labels, groups) for name in ("train", "validation", "test"))
    with watch.stage("train-classical"):
        result = train_classical_task(train, val, labels, cfg, run.dir)
    with watch.stage("train-vgg16"):
        trained = train_cnn_task(train, val, len(labels), cfg, run.dir)
    with watch.stage("evaluate"):
        evaluation = evaluate_task(result, trained, train, val, test, labels, cfg)
    evaluation.predictor.profile = profile  # the training ranges travel with the model
    test_split = fingerprint(assignment)
    test_clips = table[table["clip_id"].map(assignment).eq("test")].reset_index(drop=True)
    facts = {"run": run.id, "data_version": data_version(table), "feature_config": feature_keys(cfg.features),
             "test_split": test_split, "training_seconds": round(sum(s for _, s in watch.stages), 1)}
    packaged: dict[str, Any] = {}
    with registry.transaction(cfg.home) as champions:  # compare and promote under one lock
        with watch.stage("gate"):
            record = gate_task(evaluation, champions.current, test_clips, test, test_split, cfg)
        if record.promote:
            with watch.stage("package"):
                packaged = package_task(evaluation, record, run.dir, facts, cfg)
            champions.promote(packaged, by=f"run {run.id}")
            print(f"champion is now {packaged['tag']}")
    files = report_task(evaluation, record, run.dir)
    print(watch.table())
    summary = {**facts, "source": source, "labels": labels, "chosen": evaluation.chosen,
               "test": {k: v.row() for k, v in evaluation.test.items()}, "best_classical": result.best,
               "promoted": record.promote, "decision": record.reason, "stages": dict(watch.stages), **packaged}
    write_json(run.dir / "summary.json", summary)
    _post_results(summary, evaluation, record, run, files)
    return summary


def _post_results(summary: dict[str, Any], evaluation: Evaluation, record: GateRecord, run: Run,
                  files: list[Path]) -> None:
    synthetic = " (SYNTHETIC demo data)" if "demo-synthetic" in summary["source"] else ""
    verdict = "promoted to champion" if record.promote else "not promoted"
    markdown = "\n\n".join([
        f"# genre pipeline run {summary['run']}{synthetic}",
        f"**Gate: {verdict}.** {record.reason}.",
        evaluation.markdown(),
        "Report and plots: " + ", ".join(f"`{p}`" for p in files),
        "### Stage times", run.watch.markdown(),
        f"Run folder: `{run.dir}`",
    ])
    create_markdown_artifact(key="genre-pipeline-report", markdown=markdown, description="metrics and gate decision")
    write_text(run.dir / "report.md", markdown + "\n")
    print(f"report: {run.dir / 'evaluation' / 'report.html'}\n{json.dumps(summary['test']['ensemble'])}")
