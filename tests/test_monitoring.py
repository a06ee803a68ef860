"""The monitor's library parts without servers: the prediction log under concurrent writers (threads and processes),
its retention and torn lines, the training reference saved with a model, the drift and live-quality statistics with
their thresholds, the cool-down, and the report."""

from __future__ import annotations

import json
import multiprocessing
import os
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from genre.config import MonitorConfig
from genre.monitoring.cooldown import retrain_slot
from genre.monitoring.drift import NOT_ENOUGH, assess
from genre.monitoring.report import write_report
from genre.serving import prediction_log
from genre.serving.prediction_log import PredictionLog, is_logged, new_request_id, prune
from genre.serving.reference import Reference

LABELS = ["a", "b", "c"]
NAMES = [f"f{j}" for j in range(8)]
MODEL = "genre-classifier:test"


def _record(features: np.ndarray, genre: str, model: str = MODEL, unusual: list[str] | None = None) -> dict:
    probs = {g: (0.8 if g == genre else 0.1) for g in LABELS}
    return {"id": new_request_id(), "at": prediction_log.now().isoformat(), "model": model, "seconds": 0.1,
            "audio_seconds": 30.0, "truncated": False, "genre": genre, "probabilities": probs,
            "unusual": unusual or [], "features": features.tolist()}


def _write_many(home: str, worker: int, n: int) -> None:
    log = PredictionLog(home)
    for i in range(n):
        log.predicted(_record(np.full(len(NAMES), worker * 1000 + i, dtype=float), LABELS[i % 3]))
    log.close()


def test_log_is_whole_lines_under_threads_and_processes(tmp_path: Path) -> None:
    home = str(tmp_path)
    # spawn, not fork: a fork of the test session (threads left by earlier tests) can deadlock in the child
    context = multiprocessing.get_context("spawn")
    procs = [context.Process(target=_write_many, args=(home, w, 300)) for w in (1, 2)]
    for p in procs:
        p.start()
    log = PredictionLog(home)
    records = [_record(np.zeros(len(NAMES)), "a") for _ in range(300)]
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(log.predicted, records))
    log.close()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    day = prediction_log.log_dir(home) / prediction_log.now().date().isoformat()
    assert len(list(day.glob("predictions-*.jsonl"))) == 3  # one file per process
    read = prediction_log.read(home, "predictions", prediction_log.now() - timedelta(hours=1))
    assert len(read) == 900 and len({r["id"] for r in read}) == 900
    assert sum(r["features"][0] >= 2000 for r in read) == 300
    assert is_logged(home, records[17]["id"]) and not is_logged(home, new_request_id())
    assert not is_logged(home, "../../etc/passwd") and not is_logged(home, "")


def test_log_skips_torn_lines_prunes_old_days_and_keeps_audio_on_request(tmp_path: Path) -> None:
    log = PredictionLog(tmp_path, retention_days=3, keep_audio=True, sample_rate=8000)
    record = _record(np.arange(len(NAMES), dtype=float), "b")
    log.predicted(record, np.zeros(8000, np.float32))
    log.feedback(record["id"], "c")
    log.close()
    day = prediction_log.log_dir(tmp_path) / record["at"][:10]
    [file] = day.glob("predictions-*.jsonl")
    with open(file, "a") as handle:
        handle.write('{"id": "torn')  # a process killed mid-line
    since = prediction_log.now() - timedelta(minutes=5)
    assert [r["id"] for r in prediction_log.read(tmp_path, "predictions", since)] == [record["id"]]
    assert prediction_log.read(tmp_path, "feedback", since)[0]["genre"] == "c"
    assert (day / "audio" / f"{record['id']}.flac").is_file()
    old = prediction_log.log_dir(tmp_path) / "2020-01-01"
    old.mkdir()
    assert prune(prediction_log.log_dir(tmp_path), 3, date.today()) == ["2020-01-01"] and day.is_dir()


def test_reference_learnt_from_segments_round_trips(tmp_path: Path) -> None:
    X = np.arange(24, dtype=float).reshape(12, 2)
    clips, y = np.repeat([0, 1, 2, 3], 3), np.repeat([0, 0, 1, 2], 3)
    ref = Reference.learn(X, clips, y, ["x", "y"], LABELS)
    assert ref.features.shape == (4, 2) and ref.features[0].tolist() == [2.0, 3.0]  # the mean of clip 0's rows
    assert ref.genres == {"a": 0.5, "b": 0.25, "c": 0.25}
    ref.save(tmp_path)
    back = Reference.load(tmp_path)
    assert back.names == ["x", "y"] and back.genres == ref.genres and np.array_equal(back.features, ref.features)
    assert Reference.load(tmp_path / "none") is None
    assert len(Reference.learn(np.zeros((50, 2)), np.arange(50), np.zeros(50, int), ["x", "y"], LABELS,
                               max_clips=10).features) == 10


@pytest.fixture(scope="module")
def reference() -> Reference:
    rng = np.random.default_rng(0)
    return Reference(NAMES, rng.normal(size=(200, len(NAMES))).astype(np.float32), {g: 1 / 3 for g in LABELS})


def _stream(n: int, shift: float = 0.0, seed: int = 1) -> list[dict]:
    rng = np.random.default_rng(seed)
    return [_record(rng.normal(size=len(NAMES)) + shift, LABELS[i % 3], unusual=["f0"] if i % 10 == 0 else [])
            for i in range(n)]


def _assess(records: list[dict], reference: Reference, feedback: list[dict] = (), **cfg) -> object:
    return assess(records, list(feedback), reference, LABELS, MODEL, 0.8, MonitorConfig(**cfg), "since", "until")


def test_no_drift_in_distribution_and_drift_when_shifted(reference: Reference) -> None:
    same = _assess(_stream(90), reference, min_requests=30)
    assert same.enough and same.drift_share < 0.5 and not same.alarms and not same.genres["drifted"]
    assert same.unusual_rate == pytest.approx(0.1) and same.live_accuracy is None
    shifted = _assess(_stream(90, shift=1.5), reference, min_requests=30)
    assert shifted.drift_share == 1.0 and "8 of 8 features drifted" in shifted.alarms[0]
    lopsided = [_record(np.zeros(len(NAMES)) + i % 2, "a") for i in range(60)]
    assert _assess(lopsided, reference, min_requests=30).genres["drifted"]


def test_not_enough_answers_by_the_champion_assess_nothing(reference: Reference) -> None:
    records = _stream(40, shift=3.0) + [_record(np.zeros(len(NAMES)), "a", model="other:1") for _ in range(30)]
    result = _assess(records, reference, min_requests=50)
    assert not result.enough and result.message.startswith(NOT_ENOUGH) and not result.alarms
    assert result.requests == 40 and result.other_models == 30 and result.features == []


def test_wrong_feedback_lowers_live_accuracy_past_the_threshold(reference: Reference) -> None:
    records = _stream(60)
    right = [{"id": r["id"], "genre": r["genre"]} for r in records[:30]]
    good = _assess(records, reference, right, min_requests=30, min_feedback=20)
    assert good.feedback == 30 and good.live_accuracy == 1.0 and good.live_roc_auc == 1.0 and not good.alarms
    wrong = right + [{"id": r["id"], "genre": LABELS[(LABELS.index(r["genre"]) + 1) % 3]} for r in records]
    bad = _assess(records, reference, wrong, min_requests=30, min_feedback=20)
    assert bad.feedback == 60 and bad.live_accuracy == 0.0  # the latest feedback per request counts
    assert any("live accuracy 0.000 on 60 answers" in a and "0.800" in a for a in bad.alarms)
    few = _assess(records, reference, wrong[:10], min_requests=30, min_feedback=20)
    assert few.live_accuracy is None and not few.alarms


def test_cooldown_lets_one_retrain_start(tmp_path: Path) -> None:
    with retrain_slot(tmp_path, 24) as slot:
        assert slot.free and slot.last is None
        slot.take("run-1", ["drift"])
    with retrain_slot(tmp_path, 24) as slot:
        assert not slot.free and slot.last["flow_run"] == "run-1"
        assert slot.ends - datetime.now(UTC) > timedelta(hours=23)
    with retrain_slot(tmp_path, 0) as slot:
        assert slot.free
    state = json.loads((tmp_path / "monitoring" / "retrain.json").read_text())
    assert state["started"] == 1 and state["last"]["reasons"] == ["drift"]


def test_report_has_plots_and_says_not_enough_data(reference: Reference, tmp_path: Path) -> None:
    files = write_report(_assess(_stream(60, shift=1.0), reference, min_requests=30), reference, "started X",
                         tmp_path / "drift")
    names = {p.name for p in files}
    assert {"feature-drift.png", "genre-mix.png", "drifted-features.png", "report.html"} <= names
    assert all(p.stat().st_size > 0 for p in files)
    page = (tmp_path / "drift" / "report.html").read_text()
    assert "retrain alarm" in page and "started X" in page and "f0" in page
    files = write_report(_assess(_stream(5), reference), reference, "no retrain", tmp_path / "few")
    assert not any(p.suffix == ".png" for p in files)
    assert NOT_ENOUGH in (tmp_path / "few" / "report.html").read_text()
    assert os.path.getsize(tmp_path / "few" / "assessment.json") > 0
