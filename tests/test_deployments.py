"""prefect.yaml as users run it: deployed to a real Prefect server on 127.0.0.1, read back through the API, and
`retrain/weekly` run by a process worker on an ingested catalog: it trains once, then finds nothing new."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from genre.config import load_config, nest
from genre.data.catalog import Catalog
from genre.data.demo import make_demo_dataset
from genre.data.ingest import ingest_folder
from genre.data.store import BlobStore
from genre.serving import registry
from tests.servers import BIN, ROOT, prefect, prefect_server, run_deployment, start, stop

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


@pytest.fixture(scope="module")
def catalog_home(workdir: Path) -> Path:
    """A GENRE home whose catalog holds a small SYNTHETIC set, ingested with the library (no flow)."""
    cfg = load_config(home=str(workdir / "home"))
    data = make_demo_dataset(workdir / "synthetic", clips_per_genre=6, seconds=4.0)
    summary = ingest_folder(data, BlobStore(cfg.store_dir), Catalog(cfg.catalog_path), cfg.ingest, progress=False)
    assert summary.by_status["ok"] == 30  # 5 genres x 6 clips (its README.txt is a failed row)
    return cfg.home


def _deployment(client: httpx.Client, name: str) -> dict:
    return client.get(f"/deployments/name/{name}").raise_for_status().json()


def test_deployments_and_schedules_are_as_written(deployed) -> None:
    with httpx.Client(base_url=deployed["PREFECT_API_URL"], timeout=30) as client:
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
    assert "data" in manual["parameter_openapi_schema"]["properties"]
    assert "data" not in weekly["parameter_openapi_schema"]["properties"]  # retrain never ingests


def test_retrain_trains_once_then_finds_nothing_new(deployed, catalog_home: Path, workdir: Path) -> None:
    parameters = {"home": str(catalog_home), "settings": nest(OVERRIDES)}
    worker = start([str(BIN / "prefect"), "worker", "start", "--pool", "genre-local"], deployed,
                   workdir / "worker.log", cwd=ROOT)
    try:
        first = run_deployment(deployed["PREFECT_API_URL"], "retrain/weekly", parameters, timeout=900)
        log = (workdir / "worker.log").read_text(errors="replace")
        assert first["type"] == "COMPLETED", f"{first['type']}: {first.get('message')}\n{log[-4000:]}"
        champion = registry.champion(catalog_home)
        summaries = list((catalog_home / "runs").glob("*/summary.json"))
        [summary] = [json.loads(p.read_text()) for p in summaries]
        assert summary["promoted"] and summary["tag"] == champion["tag"]
        assert summary["source"].startswith("catalog ") and "ingest" not in summary["stages"]
        assert not (catalog_home / "demo-synthetic").exists()  # never the synthetic demo

        second = run_deployment(deployed["PREFECT_API_URL"], "retrain/weekly", parameters, timeout=600)
    finally:
        stop(worker)  # the worker goes before the server (see docs/PLATFORM.md)
    assert second["type"] == "COMPLETED"
    assert second["message"].startswith("nothing new to train on"), second["message"]
    assert summary["data_version"] in second["message"]
    assert registry.champion(catalog_home) == champion
    assert list((catalog_home / "runs").glob("*/summary.json")) == summaries  # trained and packaged nothing
    registry.use_store(catalog_home)
    assert [m["tag"] for m in registry.list_models(load_config().model_name)] == [champion["tag"]]
