"""A flow per stage: the parent composes stage flows, each with a timeout, and a failed stage ends the run Failed
with a message naming the stage and the reason (a failed expectation with its items)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from prefect import flow

from flows.evaluate import evaluate_and_gate
from flows.features import features_flow
from flows.ingest import ingest
from flows.package import package_flow
from flows.pipeline import genre_pipeline
from flows.run import Run
from flows.train import train_flow
from flows.validate import validate
from genre.config import RunSettings
from tests.conftest import write_tone


def _children(parent_id) -> dict[str, str]:
    """Stage flow name -> state type of the subflow runs of flow run ``parent_id``."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterParentFlowRunId

    with get_client(sync_client=True) as client:
        runs = client.read_flow_runs(flow_run_filter=FlowRunFilter(
            parent_flow_run_id=FlowRunFilterParentFlowRunId(any_=[parent_id])))
        return {client.read_flow(r.flow_id).name: r.state.type.value for r in runs}


def test_every_stage_is_a_flow_with_a_timeout() -> None:
    stages = (ingest, validate, features_flow, train_flow, evaluate_and_gate, package_flow)
    assert [f.name for f in stages] == ["ingest", "validate", "genre-features", "train", "evaluate-and-gate",
                                        "package"]
    for stage in stages:
        assert stage.timeout_seconds and stage.timeout_seconds >= 3600, stage.name
        assert not stage.retries, f"{stage.name}: only network work retries (the ingest's download task)"


def test_a_critical_expectation_fails_the_run_naming_the_stage_and_the_items(prefect_api, tmp_path: Path) -> None:
    for genre, freq in (("low", 110.0), ("high", 880.0)):  # two clips a genre: the balance check wants three
        for i in range(2):
            write_tone(tmp_path / "data" / genre / f"{genre}{i}.wav", freq=freq * (1 + i / 10), seconds=3.5, seed=i)
    state = genre_pipeline(data=str(tmp_path / "data"), home=str(tmp_path / "home"),
                           settings=RunSettings.from_dotted({"workers": 1}), return_state=True)
    assert state.is_failed()
    assert "stage validate failed: ValidationError: critical data validation failed" in state.message
    assert "[FAILED] balance:" in state.message and "low" in state.message and "high" in state.message
    assert _children(state.state_details.flow_run_id) == {"ingest": "COMPLETED", "validate": "FAILED"}


def test_a_stage_over_its_timeout_fails_the_run_naming_it(prefect_api) -> None:
    @flow(name="slow-stage", timeout_seconds=1)
    def slow() -> None:
        time.sleep(10)

    @flow(name="parent")
    def parent() -> None:
        with Run.stage("slow-stage"):
            slow()

    start = time.monotonic()
    state = parent(return_state=True)
    assert state.is_failed() and time.monotonic() - start < 9
    assert state.message.startswith("Flow run encountered an exception: StageFailed: stage slow-stage failed: ")
    assert "timeout" in state.message.lower()
    with pytest.raises(Exception, match="stage slow-stage failed"):
        state.result()
