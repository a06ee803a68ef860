"""Resuming and sharing a home: classical models cached by content hash, one run per home at a time."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from genre.models import classical
from genre.models.train import train_classical
from tests.conftest import ROOT
from tests.test_classical_models import segments, small_config


def test_a_second_training_on_the_same_split_and_config_fits_nothing(tmp_path, monkeypatch) -> None:
    fits: list[str] = []
    fit_model = classical.fit_model

    def counted(name, *args, **kwargs):
        fits.append(name)
        return fit_model(name, *args, **kwargs)

    monkeypatch.setattr(classical, "fit_model", counted)
    train, val = segments(18, 3, 3, seed=1, prefix="tr"), segments(9, 3, 3, seed=2, prefix="va")
    cfg = small_config(tmp_path, models=("logreg", "random_forest"))
    cache = tmp_path / "classical"
    first = train_classical(train, val, cfg, progress=False, cache_dir=cache)
    assert fits == ["logreg", "random_forest"] and first.reused == []

    again = train_classical(train, val, cfg, progress=False, cache_dir=cache)
    assert fits == ["logreg", "random_forest"] and again.reused == ["logreg", "random_forest"]
    assert again.best == first.best and again.validation["logreg"].row() == first.validation["logreg"].row()
    np.testing.assert_array_equal(again.fitted["random_forest"].model.predict_proba(val.X),
                                  first.fitted["random_forest"].model.predict_proba(val.X))

    more = small_config(tmp_path, models=("logreg", "random_forest", "svm"))  # a new model: only it is fitted
    assert train_classical(train, val, more, progress=False, cache_dir=cache).reused == ["logreg", "random_forest"]
    assert fits[-1] == "svm"
    changed = [small_config(tmp_path, models=("logreg",), search_iterations=3),  # the config, then the data
               small_config(tmp_path, models=("logreg",))]
    train_classical(train, val, changed[0], progress=False, cache_dir=cache)
    other = segments(18, 3, 3, seed=3, prefix="tr")
    train_classical(other, val, changed[1], progress=False, cache_dir=cache)
    assert fits[-2:] == ["logreg", "logreg"]
    assert len(list(cache.rglob("*.joblib"))) == 5


HOLD = """
import sys, time
from genre.atomic import locked_by
with locked_by(sys.argv[1], sys.argv[2]):
    print("taken", time.time(), flush=True)
    time.sleep(float(sys.argv[3]))
    print("released", time.time(), flush=True)
"""


def test_a_second_process_says_who_holds_the_home_and_waits(tmp_path: Path) -> None:
    lock = tmp_path / "home" / "run"

    def hold(holder: str, seconds: float) -> subprocess.Popen:
        return subprocess.Popen([sys.executable, "-c", HOLD, str(lock), holder, str(seconds)], cwd=ROOT,
                                stdout=subprocess.PIPE, text=True)

    first = hold("run A (pid 1)", 3)
    assert first.stdout.readline().startswith("taken")
    second = hold("run B (pid 2)", 0)
    out_first, out_second = first.communicate(timeout=30)[0], second.communicate(timeout=30)[0]
    released = float(out_first.split()[-1])
    waiting, took, taken, _ = out_second.splitlines()
    assert waiting == f"waiting for {lock}.lock: held by run A (pid 1)"
    assert took.startswith(f"took {lock}.lock after")
    assert float(taken.split()[-1]) >= released  # B ran only after A let go
    start = time.monotonic()
    assert hold("run C", 0).communicate(timeout=30)[0].startswith("taken")  # free again: no waiting
    assert time.monotonic() - start < 20
