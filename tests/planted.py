"""Planted-fault data sets for the validation tests: a clean synthetic set and one bad clip per fault."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import soundfile as sf

from genre.data.audio import load
from genre.data.demo import STYLES, render_clip

SR = 22050
GENRES = ("synth-ambient", "synth-funk", "synth-techno")


def write_clean(root: Path, genres=GENRES, per_genre: int = 4, seconds: float = 3.0) -> Path:
    for g, name in enumerate(genres):
        for i in range(per_genre):
            path = root / name / f"{name}.{i:03d}.wav"
            path.parent.mkdir(parents=True, exist_ok=True)
            sf.write(path, render_clip(STYLES[name], seed=100 * g + i, seconds=seconds), SR, subtype="PCM_16")
    return root


def plant_faults(root: Path) -> dict[str, str]:
    """Add one clip per fault to a clean set; returns fault -> relative path."""
    funk = render_clip(STYLES["synth-funk"], seed=900, seconds=3.0)
    planted = {
        "label": "polka/polka.000.wav",
        "silent": "synth-funk/zz-silent.wav",
        "clipped": "synth-funk/zz-clipped.wav",
        "exact": "synth-techno/zz-copy-of-000.wav",
        "near": "synth-techno/zz-reencoded-001.ogg",
        "truncated": "synth-ambient/zz-truncated.flac",
        "unreadable": "synth-ambient/zz-broken.wav",
        "short": "synth-ambient/zz-short.wav",
        "few": "synth-waltz/synth-waltz.000.wav",
    }
    paths = {k: root / v for k, v in planted.items()}
    for p in paths.values():
        p.parent.mkdir(parents=True, exist_ok=True)
    sf.write(paths["label"], render_clip(STYLES["synth-chiptune"], seed=901, seconds=3.0), SR)
    noise = np.random.default_rng(0).standard_normal(3 * SR) * 1e-5
    sf.write(paths["silent"], noise.astype(np.float32), SR)
    sf.write(paths["clipped"], np.clip(funk * 10, -1, 1), SR)
    shutil.copyfile(root / "synth-techno" / "synth-techno.000.wav", paths["exact"])
    original = load(root / "synth-techno" / "synth-techno.001.wav", SR)
    sf.write(paths["near"], np.concatenate([np.zeros(int(0.004 * SR), np.float32), original]), SR)  # ogg vorbis
    sf.write(paths["truncated"], render_clip(STYLES["synth-ambient"], seed=902, seconds=4.0), SR)
    data = paths["truncated"].read_bytes()
    paths["truncated"].write_bytes(data[: len(data) // 2])
    sf.write(paths["unreadable"], funk, SR)
    paths["unreadable"].write_bytes(paths["unreadable"].read_bytes()[:30])
    sf.write(paths["short"], funk[:SR], SR)
    sf.write(paths["few"], render_clip(STYLES["synth-waltz"], seed=903, seconds=3.0), SR)
    return planted
