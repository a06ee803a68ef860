"""Packaging task of the pipeline: the promoted predictor into the BentoML store, a Bento, the champion pointer."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from prefect import task

from genre.config import Config
from genre.evaluation.evaluate import Evaluation
from genre.serving import registry


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
