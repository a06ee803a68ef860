"""Evaluation tasks of the pipeline: the candidate on the frozen test split, then the gate against the champion."""

from __future__ import annotations

from pathlib import Path

from prefect import task

from genre.config import Config
from genre.data.store import BlobStore
from genre.evaluation.evaluate import Evaluation, champion_auc, evaluate
from genre.evaluation.gate import Decision, decide
from genre.models.train import ClassicalResult, Split
from genre.serving import registry
from genre.serving.predictor import IncompatibleModel, Predictor


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
        try:
            champion = Predictor.load(registry.model_path(record["tag"]))
        except IncompatibleModel as exc:
            note = f"the champion {record['tag']} cannot be scored by this code: {exc}"
        else:
            paths = [str(BlobStore(cfg.store_dir).path(s)) for s in test_clips["sha256"]]
            champion_score, note = champion_auc(champion, test_clips, test, labels, cfg, paths)
    decision = decide(evaluation.roc_auc, cfg.gate.min_roc_auc, champion_score, cfg.gate.min_improvement, note)
    print(f"gate: {'PROMOTE' if decision.promote else 'keep the champion'}: {decision.reason}")
    return decision
