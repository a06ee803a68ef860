"""The ``evaluate-and-gate`` stage flow: the candidate on the frozen test split, the gate against the champion,
the ``package`` stage for a winner (gate, package and promotion under one registry lock), and the report."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prefect import flow, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE

from flows.package import package_flow
from flows.run import Run
from flows.timing import TIMEOUTS
from genre.config import Config
from genre.data.catalog import data_version
from genre.data.store import BlobStore
from genre.evaluation.evaluate import Evaluation, champion_probs, evaluate
from genre.evaluation.gate import GateRecord, decide
from genre.evaluation.report import write_report
from genre.features.extractor import feature_keys
from genre.metrics.plots import markdown_table
from genre.models.pretrained import PretrainedMember
from genre.models.split import fingerprint
from genre.models.train import ClassicalResult, Split
from genre.serving import registry
from genre.serving.predictor import ENSEMBLE, IncompatibleModel, Predictor
from genre.serving.reference import Reference


@task(name="evaluate", cache_policy=NO_CACHE)
def evaluate_task(result: ClassicalResult, trained, train: Split, val: Split, test: Split, labels: list[str],
                  cfg: Config, pretrained: PretrainedMember | None = None) -> Evaluation:
    evaluation = evaluate(result, trained, train, val, test, labels, cfg, pretrained)
    print(evaluation.markdown())
    create_table_artifact(key="genre-ensemble-candidates", table=evaluation.selection.rows(),
                          description=f"chosen: {evaluation.chosen}, {evaluation.selection.basis()}")
    return evaluation


@task(name="gate", cache_policy=NO_CACHE)
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


@task(name="report", cache_policy=NO_CACHE)
def report_task(evaluation: Evaluation, record: GateRecord, run_dir: Path) -> list[Path]:
    files = write_report(evaluation, record, run_dir / "evaluation")
    create_markdown_artifact(key="genre-gate", description=f"gate: {record.verdict}",
                             markdown=f"### Gate: {record.verdict}\n\n" + markdown_table(record.rows()))
    create_table_artifact(key="genre-test-metrics", description="clip-level test metrics of every member and "
                          f"candidate; report: {run_dir / 'evaluation' / 'report.html'}",
                          table=[{"model": name, **s.row()} for name, s in evaluation.test.items()])
    return files


@flow(name="evaluate-and-gate", log_prints=True, timeout_seconds=TIMEOUTS["evaluate-and-gate"],
      validate_parameters=False)
def evaluate_and_gate(run: Run) -> tuple[dict[str, Any], list[Path]]:
    """Evaluate the run's members and candidates on the test split, gate the chosen one against the champion and,
    when it passes, package and promote it. Leaves ``run.evaluation`` and ``run.record``; returns the run's facts
    (with the champion record when promoted) and the report files."""
    cfg, watch, t, table = run.cfg, run.watch, run.training, run.table
    with watch.stage("evaluate"):
        evaluation = evaluate_task(t.result, t.trained, t.train, t.val, t.test, t.labels, cfg, t.member)
    evaluation.predictor.profile = t.profile  # the training ranges travel with the model
    evaluation.predictor.reference = Reference.learn(t.train.X, t.train.clips, t.train.y, run.fs.names,
                                                     t.labels)  # for drift
    run.evaluation = evaluation
    test_split = fingerprint(t.assignment)
    test_clips = table[table["clip_id"].map(t.assignment).eq("test")].reset_index(drop=True)
    facts = {"run": run.id, "data_version": data_version(table), "feature_config": feature_keys(cfg.features),
             "test_split": test_split, "training_seconds": round(sum(s for _, s in watch.stages), 1)}
    with registry.transaction(cfg.home) as champions:  # compare and promote under one lock
        with watch.stage("gate"):
            run.record = gate_task(evaluation, champions.current, test_clips, t.test, test_split, cfg)
        if run.record.promote:
            with Run.stage("package"):
                packaged = package_flow(run, facts)
            champions.promote(packaged, by=f"run {run.id}")
            print(f"champion is now {packaged['tag']}")
            facts = {**facts, **packaged}
    return facts, report_task(evaluation, run.record, run.dir)
