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
    sf.write(paths["short"], funk[: SR // 2], SR)  # under features.min_seconds
    sf.write(paths["few"], render_clip(STYLES["synth-waltz"], seed=903, seconds=3.0), SR)
    return planted


def plant_more_faults(root: Path) -> dict[str, str]:
    """Faults the first set does not cover: one content under two labels, an unexpected sample rate, three
    channels, NaN samples, one channel of a stereo file clipped hard (the other quiet), and 96 kHz audio
    (which is fine)."""
    funk = render_clip(STYLES["synth-funk"], seed=910, seconds=3.0)
    planted = {
        "relabelled": "synth-ambient/zz-funk-again.wav",
        "rate": "synth-funk/zz-12345hz.wav",
        "channels": "synth-funk/zz-three-channels.wav",
        "nonfinite": "synth-techno/zz-nan.wav",
        "stereo_clipped": "synth-techno/zz-left-clipped.wav",
        "hires": "synth-techno/zz-96k.flac",
    }
    paths = {k: root / v for k, v in planted.items()}
    shutil.copyfile(root / "synth-funk" / "synth-funk.000.wav", paths["relabelled"])
    sf.write(paths["rate"], render_clip(STYLES["synth-funk"], seed=911, seconds=3.0), 12345)
    sf.write(paths["channels"], np.stack([funk, funk * 0.5, funk * 0.25], axis=1), SR)
    nan = render_clip(STYLES["synth-techno"], seed=912, seconds=3.0).astype(np.float32)
    nan[SR:SR + 50] = np.nan
    sf.write(paths["nonfinite"], nan, SR, subtype="FLOAT")
    techno = render_clip(STYLES["synth-techno"], seed=913, seconds=3.0)
    sf.write(paths["stereo_clipped"], np.stack([np.clip(techno * 30, -1, 1), techno * 0.05], axis=1), SR)
    import soxr

    hires = soxr.resample(render_clip(STYLES["synth-techno"], seed=914, seconds=3.0), SR, 96000)
    sf.write(paths["hires"], hires.astype(np.float32), 96000)
    return planted
