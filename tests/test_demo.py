"""The SYNTHETIC demo set: deterministic, labelled, and genres that differ audibly."""

from __future__ import annotations

import hashlib

import librosa
import numpy as np
import soundfile as sf

from genre.data.demo import STYLES, make_demo_dataset, render_clip


def _digest(root) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest() for p in root.rglob("*.wav")}


def test_demo_set_is_deterministic_and_labelled(tmp_path) -> None:
    a = make_demo_dataset(tmp_path / "a", clips_per_genre=2, seconds=3.0)
    b = make_demo_dataset(tmp_path / "b", clips_per_genre=2, seconds=3.0)
    assert _digest(a) == _digest(b)
    assert sorted(p.name for p in a.iterdir() if p.is_dir()) == sorted(STYLES)
    assert "SYNTHETIC" in (a / "README.txt").read_text()
    y, sr = sf.read(next(a.rglob("*.wav")))
    assert sr == 22050 and abs(len(y) / sr - 3.0) < 0.01 and 0.1 < np.abs(y).max() <= 1.0


def test_genres_differ_in_tempo_and_timbre() -> None:
    ambient = render_clip(STYLES["synth-ambient"], seed=1, bleed=0.0)
    techno = render_clip(STYLES["synth-techno"], seed=1, bleed=0.0)
    onset = {name: librosa.onset.onset_detect(y=y, sr=22050).size for name, y in (("a", ambient), ("t", techno))}
    assert onset["t"] > 1.4 * onset["a"]  # techno (124-132 bpm, busy drums) has far more onsets
    half_energy = {name: np.median(librosa.feature.spectral_rolloff(y=y, sr=22050, roll_percent=0.5))
                   for name, y in (("a", ambient), ("t", techno))}
    assert half_energy["t"] > 1.4 * half_energy["a"]  # saw leads are brighter than low-passed sines
