"""The loop closed with real parts: a champion trained on gtzan-mini served by `genre serve`, its prediction log, `POST
/feedback`, and `genre monitor` against a real Prefect server with prefect.yaml deployed. Unseen gtzan-mini clips
drift nothing; with no answers the monitor says "not enough data"; SYNTHETIC demo clips drift, and two monitor runs
start exactly one retrain flow run (the cool-down); wrong-label feedback sinks live accuracy past its threshold."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from genre.config import MonitorConfig
from genre.monitoring.drift import assess_home
from tests import champion as small_champion
from tests.servers import BIN, ROOT, PrefectAPI, free_port, prefect, prefect_server, start, stop, wait_until

pytestmark = pytest.mark.slow

TEST_ACCURACY = 0.6  # the champion's "test accuracy" in its metadata: live accuracy below 0.5 is an alarm
SETS = ["--set", "monitor.min_requests=20", "--set", "monitor.min_feedback=20"]


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("monitor")


@pytest.fixture(scope="module")
def champion(workdir: Path, gtzan_mini: Path) -> dict[str, str]:
    predictor, precision = small_champion.train(workdir, gtzan_mini)
    metadata = {"metrics": {"ensemble": {"roc_auc": 0.9, "accuracy": TEST_ACCURACY}}, "precision": precision,
                "data_version": "gtzan-mini-first-4"}
    return small_champion.publish(predictor, workdir, metadata, by="tests/test_monitor_service.py")


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GENRE_", "BENTOML_", "PREFECT_"))}
    return {**env, "BENTOML_DO_NOT_TRACK": "true", "PREFECT_SERVER_ANALYTICS_ENABLED": "false", **extra}


@pytest.fixture(scope="module")
def server(champion: dict[str, str], workdir: Path) -> Iterator[str]:
    port = free_port()
    proc = start([str(BIN / "genre"), "--home", champion["home"], "serve", "--port", str(port)], _env(),
                 workdir / "serve.log", cwd=workdir)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: httpx.get(f"{base}/readyz", timeout=2).status_code == 200, 180, "genre serve", proc)
        yield base
    finally:
        stop(proc)


def _classify(base: str, paths: list[Path]) -> list[dict]:
    answers = []
    for start_at in range(0, len(paths), 10):
        files = [("audio", (p.name, p.read_bytes())) for p in paths[start_at:start_at + 10]]
        response = httpx.post(f"{base}/classify_batch", files=files, timeout=300)
        assert response.status_code == 200, response.text
        answers += response.json()
    assert all("error" not in a for a in answers), answers
    return answers


@pytest.fixture(scope="module")
def unseen(server: str, gtzan_mini: Path) -> tuple[datetime, datetime, list[dict], list[str]]:
    """The gtzan-mini clips the champion did not train on, classified: the window, the answers, the true genres."""
    paths = [p for g in sorted(gtzan_mini.iterdir()) if g.is_dir()
             for p in sorted(g.iterdir())[small_champion.TRAIN_PER_GENRE:]]
    since = datetime.now(UTC)
    answers = _classify(server, paths)
    return since, datetime.now(UTC), answers, [p.parent.name for p in paths]


@pytest.fixture(scope="module")
def deployed(workdir: Path) -> Iterator[dict[str, str]]:
    with prefect_server(workdir) as env:
        prefect(env, "work-pool", "create", "genre-local", "--type", "process", "--overwrite")
        out = prefect(env, "--no-prompt", "deploy", "--all")
        assert "monitor/daily" in out and "retrain/weekly" in out, out
        yield env


def test_unseen_clips_are_logged_and_drift_nothing(unseen, champion: dict[str, str]) -> None:
    since, until, answers, _ = unseen
    ids = [a["request_id"] for a in answers]
    assert len(set(ids)) == len(ids) == 30
    a, _ = assess_home(champion["home"], MonitorConfig(min_requests=20), since, until)
    assert a.enough and a.requests == 30 and a.model == champion["tag"]
    assert a.drift_share < 0.5 and not a.alarms, a.message
    assert a.unusual_rate is not None and a.live_accuracy is None  # no feedback yet


def test_feedback_is_checked_and_wrong_labels_sink_live_accuracy(unseen, server: str, champion: dict) -> None:
    since, until, answers, truth = unseen
    cfg = MonitorConfig(min_requests=20, min_feedback=20)

    def feedback(request_id: str, genre: str) -> httpx.Response:
        return httpx.post(f"{server}/feedback", json={"request_id": request_id, "genre": genre}, timeout=60)

    for bad in (feedback("20260101-" + "0" * 20, "jazz"), feedback("nonsense", "jazz"),
                feedback(answers[0]["request_id"], "polka")):
        assert bad.status_code == 400 and "unknown" in bad.json()["error"], bad.text
    assert httpx.post(f"{server}/feedback", json={"genre": "jazz"}, timeout=60).status_code == 400
    assert httpx.post(f"{server}/feedback", content=b"{not json", timeout=60,
                      headers={"Content-Type": "application/json"}).status_code == 400
    assert httpx.post(f"{server}/feedback", data={"request_id": answers[0]["request_id"], "genre": "jazz"},
                      timeout=60).status_code == 415  # a form is not JSON
    for answer, genre in zip(answers, truth):
        assert feedback(answer["request_id"], genre).json() == {"request_id": answer["request_id"], "genre": genre,
                                                                 "stored": True}
    right, _ = assess_home(champion["home"], cfg, since, until)
    assert right.feedback == 30 and right.live_accuracy == pytest.approx(
        sum(a["genre"] == g for a, g in zip(answers, truth)) / 30)
    labels = champion["labels"]
    for answer in answers:  # a genre that is not the answer: every answer is wrong
        other = labels[(labels.index(answer["genre"]) + 1) % len(labels)]
        assert feedback(answer["request_id"], other).status_code == 200
    wrong, _ = assess_home(champion["home"], cfg, since, until)
    assert wrong.live_accuracy == 0.0 < right.live_accuracy
    assert any(alarm.startswith("live accuracy 0.000 on 30 answers") for alarm in wrong.alarms), wrong.alarms


def _monitor(env: dict[str, str], home: str, since: datetime) -> dict:
    out = subprocess.run([str(BIN / "genre"), "--home", home, "monitor", "--since", since.isoformat(), *SETS],
                         env=env, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    return json.loads(out.stdout[out.stdout.rindex("{\n  \"run_dir\""):])


def test_shifted_stream_drifts_and_starts_exactly_one_retrain(server: str, deployed: dict, champion: dict,
                                                                workdir: Path) -> None:
    from genre.data.demo import make_demo_dataset

    env = _env(**{k: v for k, v in deployed.items() if k.startswith("PREFECT_")})
    since = datetime.now(UTC)
    idle = _monitor(env, champion["home"], since)  # nothing answered since: nothing assessed, nothing started
    assert not idle["enough"] and idle["message"].startswith("not enough data: 0 answers"), idle
    assert idle["retrain_flow_run"] is None and idle["decision"].startswith("no retrain: not enough data")
    synthetic = make_demo_dataset(workdir / "synthetic", clips_per_genre=5, seconds=4.0)
    _classify(server, sorted(synthetic.rglob("*.wav")))
    first = _monitor(env, champion["home"], since)
    assert first["enough"] and first["requests"] == 25 and first["drift_share"] >= 0.5, first
    assert first["retrain_flow_run"] and first["decision"].startswith("started retrain/weekly"), first
    report = Path(first["run_dir"])
    assert (report / "report.html").is_file() and (report / "feature-drift.png").is_file()
    second = _monitor(env, champion["home"], since)
    assert second["alarms"] and second["retrain_flow_run"] is None and "cool-down" in second["decision"], second
    with PrefectAPI(base_url=deployed["PREFECT_API_URL"], timeout=30) as client:
        deployment = client.get("/deployments/name/retrain/weekly").raise_for_status().json()
        runs = client.post("/flow_runs/filter", json={"flow_runs": {"deployment_id": {"any_": [deployment["id"]]}}}
                           ).raise_for_status().json()
        assert [r["id"] for r in runs] == [first["retrain_flow_run"]]
        assert runs[0]["parameters"]["home"] == str(Path(champion["home"]).resolve())
        daily = client.get("/deployments/name/monitor/daily").raise_for_status().json()
        artifacts = client.post("/artifacts/filter", json={"artifacts": {"key": {"any_": ["genre-monitor"]}}}
                                ).raise_for_status().json()
    [schedule] = daily["schedules"]
    assert schedule["active"] and schedule["schedule"]["cron"] == "0 5 * * *"
    assert any("started retrain/weekly" in a["data"] for a in artifacts)
