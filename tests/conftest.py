"""Shared fixtures: generated audio, the real GTZAN clips beside the repo, small configs."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from genre.config import Config, load_config

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("DO_NOT_TRACK", "true")

ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = Path(os.environ.get("GENRE_SHARED_DATA", ROOT.parent / "shared" / "data"))  # a copied tree sets it
GTZAN_MINI = SHARED_DATA / "gtzan-mini"


@pytest.fixture(scope="session")
def gtzan_mini() -> Path:
    """The 70 real GTZAN clips in ../shared/data/gtzan-mini."""
    if not GTZAN_MINI.is_dir():
        pytest.skip(f"real clips not found at {GTZAN_MINI} (../shared/data/gtzan-mini beside the repo)")
    return GTZAN_MINI


def write_tone(path: Path, freq: float = 440.0, seconds: float = 4.0, sr: int = 22050, amp: float = 0.3,
               subtype: str = "PCM_16", seed: int = 0, noise: float = 0.01) -> Path:
    """A tone with a little noise, written with soundfile (format from the suffix)."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sr)) / sr
    y = amp * np.sin(2 * np.pi * freq * t) + noise * rng.standard_normal(len(t))
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, y.astype(np.float32), sr, subtype=subtype if path.suffix == ".wav" else None)
    return path


@pytest.fixture(scope="session")
def prefect_api():
    """One throw-away Prefect database and API for every flow test of the session."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


@pytest.fixture
def tone(tmp_path: Path):
    """Factory: ``tone(name, **kw)`` writes a generated clip under tmp_path."""
    return lambda name="tone.wav", **kw: write_tone(tmp_path / name, **kw)


@pytest.fixture
def fast_config(tmp_path: Path) -> Config:
    """A config sized for tests: tiny search, a tiny VGG16 run, home in tmp_path."""
    return load_config(home=str(tmp_path / "home"), workers=2, **{
        "classical.search_iterations": 2, "classical.cv_folds": 2,
        "cnn.epochs": 1, "cnn.image_size": 32, "cnn.batch_size": 32,
        "gate.min_roc_auc": 0.5,
    })
