"""Evaluation tasks of the pipeline: the candidate on the frozen test split, the gate, and the report."""

from __future__ import annotations

from pathlib import Path

from prefect import task
from prefect.artifacts import create_markdown_artifact, create_table_artifact

from genre.config import Config
from genre.data.store import BlobStore
from genre.evaluation.evaluate import Evaluation, champion_probs, evaluate
from genre.evaluation.gate import GateRecord, decide
from genre.evaluation.report import write_report
from genre.metrics.plots import markdown_table
from genre.models.train import ClassicalResult, Split
from genre.serving import registry
from genre.serving.predictor import ENSEMBLE, IncompatibleModel, Predictor


@task(name="evaluate")
def evaluate_task(result: ClassicalResult, trained, train: Split, val: Split, test: Split, labels: list[str],
                  cfg: Config) -> Evaluation:
    evaluation = evaluate(result, trained, train, val, test, labels, cfg)
    print(evaluation.markdown())
    create_table_artifact(key="genre-ensemble-candidates", table=evaluation.selection.rows(),
                          description=f"candidates on {evaluation.selection.n_clips} held-apart clips; "
                                      f"chosen: {evaluation.chosen}")
    return evaluation


@task(name="gate")
def gate_task(evaluation: Evaluation, champion: dict | None, test_clips, test: Split, test_split: str,
              cfg: Config) -> GateRecord:
    """The gate against ``champion`` (the record read inside the caller's registry transaction)."""
    probs, note = None, ""
    if champion:
        try:
            model = Predictor.load(registry.model_path(champion["tag"]))
        except IncompatibleModel as exc:
            note = f"the champion {champion['tag']} cannot be scored by this code: {exc}"
        else:
            paths = [str(BlobStore(cfg.store_dir).path(s)) for s in test_clips["sha256"]]
            probs, note = champion_probs(model, evaluation, test_clips, test, cfg, paths)
    record = decide(evaluation.chosen, evaluation.y_test, evaluation.test_probs[ENSEMBLE], cfg.gate.min_roc_auc,
                    cfg.gate.min_improvement, test_split, champion["tag"] if champion else None, probs, note,
                    cfg.gate.bootstrap, cfg.ensemble.seed)
    print(f"gate: {record.verdict.upper()}: {record.reason}")
    return record


@task(name="report")
def report_task(evaluation: Evaluation, record: GateRecord, run_dir: Path) -> list[Path]:
    files = write_report(evaluation, record, run_dir / "evaluation")
    create_markdown_artifact(key="genre-gate", description=f"gate: {record.verdict}",
                             markdown=f"### Gate: {record.verdict}\n\n" + markdown_table(record.rows()))
    create_table_artifact(key="genre-test-metrics", description="clip-level test metrics of every member and "
                          f"candidate; report: {run_dir / 'evaluation' / 'report.html'}",
                          table=[{"model": name, **s.row()} for name, s in evaluation.test.items()])
    return files
