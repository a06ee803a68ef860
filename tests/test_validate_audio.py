"""The per-clip audio profile: loudness, clipping, NaNs, decodability and the near-duplicate fingerprint."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf

from genre.config import ValidationConfig
from genre.data.audio import load
from genre.data.demo import STYLES, render_clip
from genre.validation.audio_profile import (
    ProfileCache,
    fingerprint,
    near_duplicates,
    profile_clips,
    profile_file,
    profile_signal,
)

SR = 22050
THRESHOLD = ValidationConfig().near_duplicate_similarity


def test_profile_measures_silence_clipping_and_nan() -> None:
    music = render_clip(STYLES["synth-funk"], seed=1, seconds=3.0)
    clean = profile_signal(music, SR, full_scale=0.999)
    assert clean.decodable and clean.rms > 0.05 and clean.clipped_share == 0.0 and clean.nonfinite_share == 0.0
    assert abs(clean.seconds - 3.0) < 1e-3

    silent = profile_signal(np.zeros(SR, dtype=np.float32), SR, full_scale=0.999)
    assert silent.rms == 0.0 and not np.any(silent.fingerprint)

    clipped = profile_signal(np.clip(music * 10, -1, 1), SR, full_scale=0.999)
    assert clipped.clipped_share > ValidationConfig().max_clipped_share

    broken = music.copy()
    broken[:100] = np.nan
    assert abs(profile_signal(broken, SR, full_scale=0.999).nonfinite_share - 100 / len(music)) < 1e-9


def test_nan_samples_in_a_float_wav_are_measured_not_refused(tmp_path: Path) -> None:
    y = render_clip(STYLES["synth-waltz"], seed=3, seconds=2.0)
    y[500:600] = np.nan
    sf.write(tmp_path / "nan.wav", y, SR, subtype="FLOAT")
    profile = profile_file(tmp_path / "nan.wav", SR, full_scale=0.999)
    assert profile.decodable and abs(profile.nonfinite_share - 100 / len(y)) < 1e-6


def test_undecodable_file_is_reported_with_its_reason(tmp_path: Path) -> None:
    (tmp_path / "junk.wav").write_bytes(b"RIFF\x00\x00not audio at all")
    profile = profile_file(tmp_path / "junk.wav", SR, full_scale=0.999)
    assert not profile.decodable and "junk.wav" in profile.error


def test_fingerprint_survives_reencoding_and_a_few_ms_on_real_clips(gtzan_mini: Path, tmp_path: Path) -> None:
    originals = [gtzan_mini / "blues" / "blues.00000.wav", gtzan_mini / "jazz" / "jazz.00003.wav",
                 gtzan_mini / "metal" / "metal.00001.wav"]
    fps = np.stack([fingerprint(load(p, SR), SR) for p in originals]).astype(np.float32)
    for path, fp in zip(originals, fps):
        y = load(path, SR)
        sf.write(tmp_path / "copy.ogg", np.concatenate([np.zeros(int(0.005 * SR), np.float32), y]), SR)
        copy = fingerprint(load(tmp_path / "copy.ogg", SR), SR).astype(np.float32)
        assert float(copy @ fp) > THRESHOLD, f"{path.name} re-encoded to ogg and shifted 5 ms not recognised"
    sims = fps @ fps.T
    assert np.max(sims[~np.eye(len(fps), dtype=bool)]) < 0.8


def test_near_duplicates_points_later_clips_at_earlier_ones() -> None:
    a = np.array([1.0, 0.0, 0.0], dtype=np.float32)
    b = np.array([0.0, 1.0, 0.0], dtype=np.float32)
    best, match = near_duplicates(np.stack([a, b, a * 0.999 + b * 0.01]))
    assert match[0] == -1 and best[0] == 0.0
    assert match[2] == 0 and best[2] > 0.99
    assert best[1] == 0.0


def test_profiles_are_cached_by_content_hash(tmp_path: Path) -> None:
    path = tmp_path / "a.wav"
    sf.write(path, render_clip(STYLES["synth-techno"], seed=5, seconds=2.0), SR)
    sha = "ab" * 32
    first = profile_clips([str(path)], [sha], [SR], tmp_path / "cache", 0.999, workers=1, progress=False)
    assert ProfileCache(tmp_path / "cache", 0.999).path(sha).is_file()
    path.unlink()  # a cached profile needs no audio
    again = profile_clips([str(path)], [sha], [SR], tmp_path / "cache", 0.999, workers=1, progress=False)
    assert again[0].rms == first[0].rms and np.array_equal(again[0].fingerprint, first[0].fingerprint)
