"""The ``package`` stage flow: the promoted predictor into the BentoML store with its metadata, and a Bento."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prefect import flow, task
from prefect.cache_policies import NO_CACHE

from flows.run import Run
from flows.timing import TIMEOUTS
from genre.config import Config
from genre.evaluation.evaluate import Evaluation
from genre.evaluation.gate import GateRecord
from genre.serving import registry
from genre.serving.predictor import ENSEMBLE


@task(name="package", cache_policy=NO_CACHE)
def package_task(evaluation: Evaluation, record: GateRecord, run_dir: Path, facts: dict[str, Any],
                 cfg: Config) -> dict[str, Any]:
    """Save the candidate as a BentoML model (metadata: ``facts``, metrics, the gate record) and build its Bento;
    returns the champion record to promote."""
    info = evaluation.predictor.info
    metadata = {**facts, "metrics": {name: s.row() for name, s in evaluation.test.items()},
                "ensemble": evaluation.selection.chosen.describe(), "members": evaluation.predictor.members,
                "gate": record.to_dict(), "commit": registry.source_commit(),
                "cnn_precision": info.get("cnn_precision"), "cnn_weights": info.get("cnn_weights"),
                "pretrained": info.get("pretrained", "none")}
    folder = evaluation.predictor.save(run_dir / "predictor")
    tag = registry.save_model(folder, cfg.model_name, metadata=metadata,
                              labels={"method": evaluation.selection.chosen.method},
                              evaluation_dir=run_dir / "evaluation")
    bento = registry.build_bento(tag, cfg.model_name)
    print(f"packaged {tag}; Bento {bento}")
    return {"tag": tag, "bento": bento, "roc_auc": evaluation.test[ENSEMBLE].roc_auc,
            "test_split": record.test_split, "run": facts.get("run")}


@flow(name="package", log_prints=True, timeout_seconds=TIMEOUTS["package"], validate_parameters=False)
def package_flow(run: Run, facts: dict[str, Any]) -> dict[str, Any]:
    """Package the run's gated candidate (``run.evaluation``, ``run.record``); returns the champion record."""
    with run.watch.stage("package"):
        return package_task(run.evaluation, run.record, run.dir, facts, run.cfg)
