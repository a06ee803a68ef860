"""The stages every training run shares, each a flow of its own: validate -> genre-features -> train ->
evaluate-and-gate (-> package). ``genre-pipeline`` runs them after the ingest stage, ``retrain`` on the catalog as
it stands. See flows/run.py for the Run they share, their timeouts and how a failed stage ends the run.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
from prefect.artifacts import create_markdown_artifact

from flows.evaluate import evaluate_and_gate
from flows.features import run_features
from flows.run import Run
from flows.train import train_flow
from flows.validate import validate
from genre.atomic import write_json, write_text
from genre.evaluation.evaluate import Evaluation
from genre.evaluation.gate import GateRecord
from genre.features.dataset import FeatureSet
from genre.models.train import ClassicalResult
from genre.models.vgg16_training import TrainedCNN

__all__ = ["Run", "prepare", "train_and_gate"]


def prepare(run: Run) -> tuple[FeatureSet, pd.DataFrame]:
    """Validate the catalog (quarantine, or stop on a critical failure), then the features of its usable clips."""
    with run.stage("validate"), run.watch.stage("validate"):
        validate(cfg=run.cfg, run_dir=run.dir)
    with run.stage("features"), run.watch.stage("features"):
        run.fs, run.table = run_features(run.cfg)
    return run.fs, run.table


def train_and_gate(run: Run, source: str) -> dict[str, Any]:
    """Train on the prepared run, evaluate, gate against the champion and package a winner; returns the summary."""
    with run.stage("train"):
        run.training = train_flow(run)
    with run.stage("evaluate-and-gate"):
        facts, files = evaluate_and_gate(run)
    t, evaluation, record = run.training, run.evaluation, run.record
    print(run.watch.table())
    summary = {**facts, "source": source, "labels": t.labels, "chosen": evaluation.chosen,
               "test": {k: v.row() for k, v in evaluation.test.items()}, "best_classical": t.result.best,
               "pretrained": evaluation.predictor.info.get("pretrained", "none"),
               "promoted": record.promote, "decision": record.reason, "stages": dict(run.watch.stages),
               "computed": computed(run.fs, t.result, t.trained)}
    write_json(run.dir / "summary.json", summary)
    _post_results(summary, evaluation, record, run, files)
    return summary


def computed(fs: FeatureSet, result: ClassicalResult, trained: TrainedCNN) -> dict[str, Any]:
    """What this run computed and what it took from earlier runs' caches and checkpoints."""
    epochs = len(next(iter(trained.history.values()), []))
    return {"clips_decoded": fs.stats.decoded, "clips_cached": fs.stats.cached,
            "classical_fitted": [n for n in result.fitted if n not in result.reused],
            "classical_reused": result.reused, "vgg16_resumed_after_epoch": trained.resumed_at,
            "vgg16_epochs_trained": epochs - trained.resumed_at}


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
