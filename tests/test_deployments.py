"""prefect.yaml as users run it: deployed to a real Prefect server on 127.0.0.1, read back through the API, and
`retrain/weekly` run by a process worker on an ingested catalog: two retrains started together train once (the
second waits for the first, then finds nothing new); a run whose worker is killed in VGG16 training resumes."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import httpx
import pytest

from genre.config import load_config, nest
from genre.data.catalog import Catalog
from genre.data.demo import make_demo_dataset
from genre.data.ingest import ingest_folder
from genre.data.store import BlobStore
from genre.serving import registry
from tests.servers import (
    BIN,
    ROOT,
    PrefectAPI,
    prefect,
    prefect_server,
    run_deployment,
    start,
    start_run,
    stop,
    wait_run,
)

pytestmark = pytest.mark.slow

OVERRIDES = {"workers": 2, "classical.models": ["logreg"], "classical.search_iterations": 1, "classical.cv_folds": 2,
             "classical.bootstrap": 100, "cnn.epochs": 1, "cnn.image_size": 32, "ensemble.methods": ["member", "average"],
             "gate.min_roc_auc": 0.5, "gate.bootstrap": 100}


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("deployments")


@pytest.fixture(scope="module")
def deployed(workdir: Path):
    """A Prefect server with the `genre-local` pool and every deployment of prefect.yaml; yields its environment."""
    with prefect_server(workdir) as env:
        prefect(env, "work-pool", "create", "genre-local", "--type", "process", "--overwrite")
        out = prefect(env, "--no-prompt", "deploy", "--all")
        for name in ("ingest/daily", "retrain/weekly", "genre-pipeline/manual"):
            assert name in out, out
        yield env


def ingested(workdir: Path, name: str) -> Path:
    """A GENRE home whose catalog holds a small SYNTHETIC set, ingested with the library (no flow)."""
    cfg = load_config(home=str(workdir / name))
    data = make_demo_dataset(workdir / "synthetic", clips_per_genre=6, seconds=4.0)
    summary = ingest_folder(data, BlobStore(cfg.store_dir), Catalog(cfg.catalog_path), cfg.ingest, progress=False)
    assert summary.by_status["ok"] == 30  # 5 genres x 6 clips (its README.txt is a failed row)
    return cfg.home


@pytest.fixture(scope="module")
def catalog_home(workdir: Path) -> Path:
    return ingested(workdir, "home")


def worker(env: dict[str, str], log: Path):
    return start([str(BIN / "prefect"), "worker", "start", "--pool", "genre-local"], env, log, cwd=ROOT)


def children(api: str, run_id: str) -> dict[str, tuple[str, str]]:
    """Stage flow name -> (state type, flow run id) of the subflow runs of flow run ``run_id``."""
    with PrefectAPI(base_url=api, timeout=30) as client:
        runs = client.post("/flow_runs/filter", json={"flow_runs": {"parent_flow_run_id": {"any_": [run_id]}}})
        names = {f["id"]: f["name"] for f in client.post("/flows/filter", json={}).raise_for_status().json()}
    return {names[r["flow_id"]]: (r["state"]["type"], r["id"]) for r in runs.raise_for_status().json()}


def logs(api: str, run_id: str) -> str:
    """The log lines of flow run ``run_id`` as the server stored them."""
    with PrefectAPI(base_url=api, timeout=30) as client:
        rows = client.post("/logs/filter", json={"logs": {"flow_run_id": {"any_": [run_id]}}, "limit": 200,
                                                 "sort": "TIMESTAMP_ASC"}).raise_for_status().json()
    return "\n".join(row["message"] for row in rows)


def _deployment(client: httpx.Client, name: str) -> dict:
    return client.get(f"/deployments/name/{name}").raise_for_status().json()


def test_deployments_and_schedules_are_as_written(deployed) -> None:
    with PrefectAPI(base_url=deployed["PREFECT_API_URL"], timeout=30) as client:
        weekly, daily, manual = (_deployment(client, n) for n in ("retrain/weekly", "ingest/daily",
                                                                    "genre-pipeline/manual"))
    for deployment in (weekly, daily, manual):
        assert deployment["description"] and deployment["work_pool_name"] == "genre-local"
    [schedule] = weekly["schedules"]
    assert schedule["active"] is True
    assert schedule["schedule"]["cron"] == "0 4 * * 1" and schedule["schedule"]["timezone"] == "UTC"
    assert weekly["entrypoint"] == "flows/retrain.py:retrain" and weekly["parameters"] == {"force": False}
    [schedule] = daily["schedules"]
    assert schedule["active"] is False and schedule["schedule"]["cron"] == "0 3 * * *"
    assert manual["schedules"] == []
    for deployment in (weekly, manual):  # typed parameters: the UI shows a form of the config sections
        schema = deployment["parameter_openapi_schema"]
        assert "overrides" not in schema["properties"]
        assert schema["properties"]["settings"]["$ref"].endswith("/RunSettings")
        sections = schema["definitions"]["RunSettings"]["properties"]
        assert {"classical", "cnn", "gate", "features"} <= set(sections)
        assert all(field.get("description") for field in sections.values())
        for section in ("IngestConfig", "AudioSetConfig", "FeatureConfig", "ValidationConfig", "SplitConfig",
                        "ClassicalConfig", "CNNConfig", "EnsembleConfig", "GateConfig"):  # each field explains itself
            fields = schema["definitions"][section]["properties"]
            assert all(field.get("description") for field in fields.values()), section
        assert "bf16" in schema["definitions"]["CNNConfig"]["properties"]["precision"]["description"]
    assert "data" in manual["parameter_openapi_schema"]["properties"]
    assert "data" not in weekly["parameter_openapi_schema"]["properties"]  # retrain never ingests


def test_two_retrains_at_once_train_once_then_find_nothing_new(deployed, catalog_home: Path, workdir: Path) -> None:
    api = deployed["PREFECT_API_URL"]
    parameters = {"home": str(catalog_home), "settings": nest(OVERRIDES)}
    proc = worker(deployed, workdir / "worker.log")
    try:
        ids = [start_run(api, "retrain/weekly", parameters) for _ in range(2)]
        states = [wait_run(api, run_id, timeout=900) for run_id in ids]
        log = (workdir / "worker.log").read_text(errors="replace")
        assert [s["type"] for s in states] == ["COMPLETED"] * 2, f"{states}\n{log[-4000:]}"
        champion = registry.champion(catalog_home)
        summaries = list((catalog_home / "runs").glob("*/summary.json"))
        [summary] = [json.loads(p.read_text()) for p in summaries]  # one of the two trained
        assert summary["promoted"] and summary["tag"] == champion["tag"]
        assert summary["source"].startswith("catalog ") and "ingest" not in summary["stages"]
        assert not (catalog_home / "demo-synthetic").exists()  # never the synthetic demo
        [waited] = [(i, s) for i, s in zip(ids, states) if (s["message"] or "").startswith("nothing new to train on")]
        assert summary["data_version"] in waited[1]["message"]
        assert f"held by run {summary['run']}" in logs(api, waited[0])  # it said which run it waited for
        [trained] = [i for i in ids if i != waited[0]]
        stages = children(api, trained)  # a flow per stage, package inside evaluate-and-gate (one registry lock)
        assert {name: state for name, (state, _) in stages.items()} == dict.fromkeys(
            ("validate", "genre-features", "train", "evaluate-and-gate"), "COMPLETED")
        assert [(n, s) for n, (s, _) in children(api, stages["evaluate-and-gate"][1]).items()] == [("package",
                                                                                               "COMPLETED")]

        again = run_deployment(api, "retrain/weekly", parameters, timeout=600)
    finally:
        stop(proc)  # the worker goes before the server (see docs/PLATFORM.md)
    assert again["type"] == "COMPLETED"
    assert again["message"].startswith("nothing new to train on"), again["message"]
    assert registry.champion(catalog_home) == champion
    assert list((catalog_home / "runs").glob("*/summary.json")) == summaries  # trained and packaged nothing
    registry.use_store(catalog_home)
    assert [m["tag"] for m in registry.list_models(load_config().model_name)] == [champion["tag"]]


def kill_flow_run(worker_proc, run_id: str) -> int:
    """kill -9 the worker and every process of flow run ``run_id`` (found by its PREFECT__FLOW_RUN_ID)."""
    os.killpg(worker_proc.pid, signal.SIGKILL)
    killed = 0
    for entry in Path("/proc").iterdir():
        try:
            environ = (entry / "environ").read_bytes().split(b"\0")
        except (OSError, ValueError):
            continue
        if f"PREFECT__FLOW_RUN_ID={run_id}".encode() in environ:
            os.kill(int(entry.name), signal.SIGKILL)
            killed += 1
    worker_proc.wait(timeout=30)
    return killed


def test_a_run_killed_in_vgg16_training_resumes_where_it_stopped(deployed, workdir: Path) -> None:
    """kill -9 of the worker and its flow run after VGG16's first checkpoint; the rerun decodes no clip, fits no
    classical model and trains VGG16 only for the epochs after its checkpoint."""
    home = ingested(workdir, "killed-home")
    api, epochs = deployed["PREFECT_API_URL"], 8
    settings = nest({**OVERRIDES, "classical.models": ["logreg", "random_forest"], "cnn.epochs": epochs,
                     "cnn.patience": epochs})
    parameters = {"home": str(home), "settings": settings}
    proc = worker(deployed, workdir / "worker-killed.log")
    try:
        killed_id = start_run(api, "retrain/weekly", parameters)
        deadline = time.monotonic() + 900
        while not list((home / "cnn" / "runs").glob("*/state.json")):  # VGG16 finished its first epoch
            assert time.monotonic() < deadline and proc.poll() is None, "VGG16 never checkpointed"
            time.sleep(0.2)
        assert kill_flow_run(proc, killed_id) >= 1
    finally:
        stop(proc)
    [state] = (home / "cnn" / "runs").glob("*/state.json")
    epochs_done = json.loads(state.read_text())["epoch"] + 1
    assert epochs_done < epochs, "killed too late: VGG16 had finished"
    assert len(list((home / "classical").rglob("*.joblib"))) == 2 and not list(home.glob("runs/*/summary.json"))

    proc = worker(deployed, workdir / "worker-rerun.log")
    try:
        rerun = run_deployment(api, "retrain/weekly", parameters, timeout=900)
    finally:
        stop(proc)
    log = (workdir / "worker-rerun.log").read_text(errors="replace")
    assert rerun["type"] == "COMPLETED", f"{rerun['type']}: {rerun.get('message')}\n{log[-4000:]}"
    [summary] = [json.loads(p.read_text()) for p in home.glob("runs/*/summary.json")]
    computed = summary["computed"]
    assert computed["clips_decoded"] == 0 and computed["classical_fitted"] == []
    assert computed["classical_reused"] == ["logreg", "random_forest"]
    assert computed["vgg16_resumed_after_epoch"] == epochs_done
    assert computed["vgg16_epochs_trained"] == epochs - computed["vgg16_resumed_after_epoch"]
