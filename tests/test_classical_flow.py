"""The Prefect train-classical task posts the classical models' table artifact and writes their report."""

from __future__ import annotations

import json

import pytest

from tests.test_classical_models import segments, small_config


@pytest.mark.slow
def test_train_classical_task_posts_a_table_artifact(prefect_api, tmp_path):
    from prefect import flow
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId, ArtifactFilterKey

    from flows.train import train_classical_task

    train, val = segments(18, 3, 3, seed=0, prefix="tr"), segments(9, 3, 3, seed=1, prefix="va")
    cfg = small_config(tmp_path, models=("logreg", "svm"))
    run_dir = tmp_path / "run"

    @flow
    def classical_only():
        return train_classical_task(train, val, ["a", "b", "c"], cfg, run_dir)

    state = classical_only(return_state=True)
    result = state.result()
    with get_client(sync_client=True) as client:
        artifacts = client.read_artifacts(artifact_filter=ArtifactFilter(
            key=ArtifactFilterKey(any_=["genre-classical-models"]),
            flow_run_id=ArtifactFilterFlowRunId(any_=[state.state_details.flow_run_id])))
    assert len(artifacts) == 1 and artifacts[0].type == "table"
    rows = json.loads(artifacts[0].data)  # Prefect stores a table artifact as JSON text
    assert [r["model"] for r in rows] == ["logreg", "svm"]
    assert [r["model"] for r in rows if r["chosen"] == "yes"] == [result.best]
    assert {"roc_auc", "ci95_low", "ci95_high", "accuracy", "macro_f1", "fit_seconds"} <= set(rows[0])
    assert (run_dir / "classical" / "report.html").is_file() and (run_dir / "classical" / "roc-all.png").is_file()
