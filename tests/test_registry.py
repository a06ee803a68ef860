"""The registry people drive: `genre models list | show | promote | rollback`, concurrent promotions from real
processes, and a promotion killed with SIGKILL that leaves one whole champion."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from genre.config import FeatureConfig
from genre.features.extractor import feature_names
from genre.models.ensemble import Combiner
from genre.serving import registry
from genre.serving.predictor import Predictor

NAME = "genre-classifier"


def _model(tmp: Path, labels: list[str], seed: int) -> str:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(40, len(feature_names(FeatureConfig()))))
    y = np.arange(40) % len(labels)
    model = LogisticRegression(max_iter=200).fit(X, y)
    predictor = Predictor(labels, FeatureConfig(), {"logreg": model}, Combiner("member", ["logreg"], [1.0]))
    folder = predictor.save(tmp / f"p{seed}")
    return registry.save_model(folder, NAME, {"metrics": {"ensemble": {"roc_auc": 0.8 + seed / 100}},
                                              "test_split": "s1", "data_version": f"d{seed}"}, {"method": "member"})


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> tuple[Path, list[str], str]:
    """A home with three models of genres a/b and one of genres a/b/c."""
    home = tmp_path_factory.mktemp("registry") / "home"
    registry.use_store(home)
    tmp = tmp_path_factory.mktemp("predictors")
    tags = [_model(tmp, ["a", "b"], seed) for seed in range(3)]
    return home, tags, _model(tmp, ["a", "b", "c"], 9)


def _genre(home: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "flows.cli", "--home", str(home), "models", *args],
                          capture_output=True, text=True, timeout=300)


def _popen(home: Path, *args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "flows.cli", "--home", str(home), "models", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _state(home: Path) -> dict:
    return json.loads((home / "champion.json").read_text())


def _fresh(home: Path) -> None:
    for leftover in home.glob("champion.json*"):
        leftover.unlink()


def test_promote_list_show_and_rollback(store) -> None:
    home, tags, other_genres = store
    _fresh(home)
    assert _genre(home, "rollback").returncode == 2  # nothing to roll back to
    for tag in tags[:2]:
        done = _genre(home, "promote", tag)
        assert done.returncode == 0 and f"champion is now {tag}" in done.stdout
    listing = _genre(home, "list").stdout
    assert all(t in listing for t in tags) and "0.81" in listing
    assert [line.split()[1] for line in listing.splitlines() if line.startswith("*") and NAME in line] == [tags[1]]
    shown = json.loads(_genre(home, "show", tags[0]).stdout)
    assert shown["metadata"]["data_version"] == "d0" and shown["champion"] is False

    refused = _genre(home, "promote", other_genres)
    assert refused.returncode == 2 and "knows the genres a, b, c" in refused.stderr and "unchanged" in refused.stderr
    missing = _genre(home, "promote", f"{NAME}:doesnotexist")
    assert missing.returncode == 2 and "does not load" in missing.stderr
    assert registry.champion(home)["tag"] == tags[1]

    back = _genre(home, "rollback")
    assert back.returncode == 0 and f"champion is now {tags[0]} again" in back.stdout
    assert registry.champion(home)["tag"] == tags[0]
    events = [(e["action"], e["tag"], e["previous"]) for e in _state(home)["events"]]
    assert events == [("promote", tags[0], None), ("promote", tags[1], tags[0]), ("rollback", tags[0], tags[1])]


def test_concurrent_promotions_leave_one_champion_and_a_complete_history(store) -> None:
    home, tags, _ = store
    _fresh(home)
    order = [tags[0], tags[1], tags[2], tags[0]]
    procs = [_popen(home, "promote", tag) for tag in order]  # four processes at once
    outputs = [p.communicate(timeout=300) for p in procs]
    assert all(p.returncode == 0 for p in procs), outputs
    state = _state(home)
    events = state["events"]
    assert 3 <= len(events) <= 4  # a promotion of the champion itself is a no-op
    assert all(e["action"] == "promote" for e in events)
    for before, after in zip(events, events[1:]):
        assert after["previous"] == before["tag"] != after["tag"]  # each one compared with the one before it
    assert [r["tag"] for r in state["lineage"]] == [e["tag"] for e in events]
    assert registry.champion(home)["tag"] == events[-1]["tag"]


def test_a_promotion_killed_at_any_moment_leaves_the_old_champion_or_the_new_one_whole(store) -> None:
    home, tags, _ = store
    _fresh(home)
    assert _genre(home, "promote", tags[0]).returncode == 0
    start = time.monotonic()
    assert _genre(home, "promote", tags[1]).returncode == 0
    lifetime = time.monotonic() - start
    assert _genre(home, "rollback").returncode == 0
    for share in (0.5, 0.8, 0.95, 1.05):
        proc = _popen(home, "promote", tags[1] if registry.champion(home)["tag"] == tags[0] else tags[0])
        time.sleep(lifetime * share)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=60)
        state = _state(home)  # always whole JSON...
        current = state["lineage"][-1]["tag"]
        assert current in tags[:2]  # ...naming one of the two models
        assert state["events"][-1]["tag"] == current  # the history agrees with the champion
    assert not list(home.glob("champion.json.*tmp*")), "a killed write left a temporary file behind"
    assert _genre(home, "promote", tags[2]).returncode == 0  # the lock was released by the killed processes


def test_a_model_carries_its_folders_and_its_evaluation_plots(store, tmp_path: Path) -> None:
    """Subfolders of a saved predictor (the pretrained member's checkpoint) and the report's plots go into the
    BentoML model, so a model served away from its run folder (a Bento in a container) still shows them."""
    home, _, _ = store
    folder = tmp_path / "predictor"
    (folder / "pretrained" / "ckpt").mkdir(parents=True)
    (folder / "pretrained" / "ckpt" / ".index").write_bytes(b"variables")
    (folder / "predictor.json").write_text("{}")
    evaluation = tmp_path / "evaluation"
    evaluation.mkdir()
    for file in registry.REPORT_PLOTS.values():
        (evaluation / file).write_bytes(b"\x89PNG " + file.encode())
    tag = registry.save_model(folder, NAME, {"run": "a-run-not-on-this-machine"}, {}, evaluation_dir=evaluation)
    path = Path(registry.model_info(tag)["path"])
    assert (path / "pretrained" / "ckpt" / ".index").read_bytes() == b"variables"
    plots = registry.report_plots(home, tag)
    assert set(plots) == set(registry.REPORT_PLOTS) and all(p.is_relative_to(path) for p in plots.values())
    assert plots["roc"].read_bytes() == b"\x89PNG roc.png"
