"""End to end with real parts: a Prefect server and process worker run the `genre-pipeline`
deployment from prefect.yaml on a small SYNTHETIC set; the champion's Bento then answers
`POST /classify` through a real `bentoml serve` on 127.0.0.1."""

from __future__ import annotations

import json
import os
from pathlib import Path

import httpx
import pytest

from genre.config import FeatureConfig, nest
from genre.data.demo import make_demo_dataset
from genre.features.extractor import feature_names
from genre.serving import registry
from tests.servers import (
    BIN,
    ROOT,
    PrefectAPI,
    free_port,
    prefect,
    prefect_server,
    run_deployment,
    start,
    stop,
    wait_until,
)

pytestmark = pytest.mark.slow

OVERRIDES = {"classical.search_iterations": 2, "classical.cv_folds": 2, "cnn.epochs": 1, "cnn.image_size": 32,
             "gate.min_roc_auc": 0.5}


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("e2e")


@pytest.fixture(scope="module")
def prefect_env(workdir: Path):
    """A real Prefect server on 127.0.0.1 with its own SQLite database."""
    with prefect_server(workdir) as env:
        yield env


@pytest.fixture(scope="module")
def pipeline_home(prefect_env, workdir: Path) -> Path:
    """Deploy prefect.yaml, start a worker, run the pipeline deployment, return its GENRE home."""
    data = make_demo_dataset(workdir / "synthetic", clips_per_genre=6, seconds=6.0)
    home = workdir / "home"
    prefect(prefect_env, "work-pool", "create", "genre-local", "--type", "process", "--overwrite")
    out = prefect(prefect_env, "--no-prompt", "deploy", "--all")
    assert "genre-pipeline/manual" in out
    worker = start([str(BIN / "prefect"), "worker", "start", "--pool", "genre-local"], prefect_env,
                   workdir / "worker.log", cwd=ROOT)
    try:
        state = run_deployment(prefect_env["PREFECT_API_URL"], "genre-pipeline/manual",
                                {"data": str(data), "home": str(home), "settings": nest(OVERRIDES)}, timeout=600)
    finally:
        stop(worker)  # the worker goes before the server (see docs/PLATFORM.md)
    log = (workdir / "worker.log").read_text(errors="replace")
    assert state["type"] == "COMPLETED", f"flow run ended {state['type']}: {state.get('message')}\n{log[-4000:]}"
    return home


def test_deployment_run_promotes_and_reports(pipeline_home: Path, prefect_env) -> None:
    champion = registry.champion(pipeline_home)
    assert champion["tag"].startswith("genre-classifier:") and champion["bento"].startswith("genre-classifier:")
    summary = json.loads(next((pipeline_home / "runs").glob("*/summary.json")).read_text())
    assert summary["promoted"] is True
    assert {"svm", "logreg", "random_forest", "xgboost", "vgg16", "ensemble"} <= set(summary["test"])
    assert any(name.startswith("average(") for name in summary["test"])  # the candidates are scored on test too
    assert summary["test"]["ensemble"]["roc_auc"] >= 0.8  # the synthetic genres are learnable: far above chance
    for stage in ("ingest", "validate", "features", "train-classical", "train-vgg16", "evaluate", "gate", "package"):
        assert stage in summary["stages"]
    with PrefectAPI(base_url=prefect_env["PREFECT_API_URL"], timeout=30) as client:
        keys = {a["key"] for a in client.post("/artifacts/filter", json={}).raise_for_status().json()}
    assert {"genre-pipeline-report", "genre-test-metrics", "genre-validation", "genre-ingest", "genre-gate",
            "genre-ensemble-candidates"} <= keys


def test_bento_serves_classify(pipeline_home: Path, workdir: Path, gtzan_mini: Path) -> None:
    champion = registry.champion(pipeline_home)
    port = free_port()
    env = {**os.environ, "BENTOML_HOME": str(pipeline_home / "bentoml"), "BENTOML_DO_NOT_TRACK": "true"}
    server = start([str(BIN / "bentoml"), "serve", champion["bento"], "--host", "127.0.0.1", "--port", str(port)],
                   env, workdir / "bentoml.log", cwd=workdir)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: httpx.get(f"{base}/readyz", timeout=2).status_code == 200, 120, "bentoml serve", server)
        labels = set(json.loads(next((pipeline_home / "runs").glob("*/summary.json")).read_text())["labels"])
        clip = workdir / "synthetic" / "synth-techno" / "synth-techno.000.wav"
        with open(clip, "rb") as f:
            answer = httpx.post(f"{base}/classify", files={"audio": (clip.name, f, "audio/wav")}, timeout=60)
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert set(body["probabilities"]) == labels
        assert body["genre"] == max(body["probabilities"], key=body["probabilities"].get)
        assert abs(sum(body["probabilities"].values()) - 1.0) < 1e-4
        assert body["model"] == champion["tag"]
        assert set(body["unusual_features"]) <= set(feature_names(FeatureConfig()))
        real = gtzan_mini / "jazz" / "jazz.00001.wav"  # a real clip goes through the same path
        with open(real, "rb") as f:
            assert httpx.post(f"{base}/classify", files={"audio": (real.name, f)}, timeout=60).status_code == 200
        bad = httpx.post(f"{base}/classify", files={"audio": ("notes.txt", b"not audio at all", "text/plain")},
                         timeout=60)
        assert bad.status_code == 400
        assert "not decodable audio" in bad.text
        _knows_its_training_clips(base, pipeline_home)
        _odd_uploads(base, workdir, clip)
    finally:
        stop(server)


def _classify(base: str, name: str, data: bytes) -> httpx.Response:
    return httpx.post(f"{base}/classify", files={"audio": (name, data)}, timeout=60)


def _knows_its_training_clips(base: str, home: Path) -> None:
    """Clips the champion trained on come back as their own genre (not merely as some genre)."""
    from genre.data.catalog import Catalog

    splits = json.loads((home / "splits.json").read_text())
    rows = Catalog(home / "catalog.sqlite").frame()
    rows = rows[rows["status"] == "ok"]
    train = [(Path(r.source.split(":", 1)[1]) / r.source_id, r.label) for r in rows.itertuples()
             if splits.get(r.clip_id) == "train"]
    assert len(train) >= 10
    right = sum(_classify(base, path.name, path.read_bytes()).json()["genre"] == label for path, label in train)
    assert right >= 0.8 * len(train), f"{right} of {len(train)} training clips came back as their genre"


def _odd_uploads(base: str, workdir: Path, clip: Path) -> None:
    """Empty, silent and too short uploads get a 400 with the reason; a song with a silent tail is classified."""
    import io

    import numpy as np
    import soundfile as sf

    def wav(y: np.ndarray) -> bytes:
        out = io.BytesIO()
        sf.write(out, y.astype(np.float32), 22050, format="WAV", subtype="PCM_16")
        return out.getvalue()

    song, _ = sf.read(clip, dtype="float32")
    empty = _classify(base, "empty.wav", b"")
    assert empty.status_code == 400 and "empty" in empty.text, empty.text
    silent = _classify(base, "quiet.wav", wav(np.zeros(5 * 22050)))
    assert silent.status_code == 400 and "audio is silent" in silent.text, silent.text
    short = _classify(base, "blip.wav", wav(song[: int(0.14 * 22050)]))
    assert short.status_code == 400 and "0.14 s of audio is too short: the minimum is 1 s" in short.text, short.text
    tail = _classify(base, "tail.wav", wav(np.concatenate([song, np.zeros(5 * 22050, np.float32)])))
    assert tail.status_code == 200, tail.text
