"""Real music is not tidy: silent stretches, DC, short clips. Features stay finite or fail with a named reason."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from genre.config import FeatureConfig
from genre.data.audio import load
from genre.features.dataset import extract_dataset
from genre.features.extractor import FeatureError, clip_features, fit_length, output_key
from genre.threads import one_blas_thread_inside

CFG = FeatureConfig()
SR = CFG.sample_rate


def music(seconds: float, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SR)) / SR
    return (0.3 * np.sin(2 * np.pi * 330 * t) * (1 + np.sin(2 * np.pi * 2 * t)) / 2
            + 0.05 * rng.standard_normal(len(t))).astype(np.float32)


@pytest.mark.parametrize("name,signal", [
    ("silent tail", np.concatenate([music(10), np.zeros(5 * SR, np.float32)])),
    ("silent head", np.concatenate([np.zeros(4 * SR, np.float32), music(8)])),
    ("silent middle", np.concatenate([music(4), np.zeros(4 * SR, np.float32), music(4, 1)])),
    ("digital silence", np.zeros(5 * SR, np.float32)),
    ("DC offset", np.full(5 * SR, 0.25, np.float32)),
    ("hard clipped", np.clip(music(6) * 20, -1, 1)),
])
def test_every_segment_of_odd_audio_has_finite_features(name: str, signal: np.ndarray) -> None:
    clip = clip_features(signal, CFG)
    assert np.isfinite(clip.features).all(), name
    assert np.isfinite(clip.mels.astype(np.float32)).all(), name
    assert len(clip.features) == len(clip.mels) >= 1


def test_clips_below_the_minimum_fail_with_their_length_and_the_minimum() -> None:
    for n in (300, 2048, 3000, 4095, int(0.99 * SR)):  # 2048-4095 samples used to escape as librosa's error
        with pytest.raises(FeatureError, match=r"shorter than the minimum of 1 s \(features.min_seconds\)"):
            clip_features(music(1)[:n], CFG)


def test_a_clip_shorter_than_a_segment_is_repeated_to_fill_one() -> None:
    y = music(1.4)
    filled = fit_length(y, CFG)
    assert len(filled) == 3 * SR and np.array_equal(filled[: len(y)], y) and np.array_equal(filled[len(y):2 * len(y)], y)
    assert np.array_equal(clip_features(y, CFG).features, clip_features(filled, CFG).features)
    long = music(5)
    assert fit_length(long, CFG) is long


def test_a_batch_goes_on_past_short_and_silent_clips(tmp_path: Path) -> None:
    files = {"good": music(6), "tiny": music(1)[:3000], "quiet-tail": np.concatenate([music(5), np.zeros(4 * SR)]),
             "short": music(1.5)}
    paths = []
    for name, y in files.items():
        paths.append(tmp_path / f"{name}.wav")
        sf.write(paths[-1], y.astype(np.float32), SR)
    import pandas as pd

    clips = pd.DataFrame({"clip_id": list(files), "sha256": [f"{i:064x}" for i in range(len(files))],
                          "label": ["x"] * len(files)})
    fs = extract_dataset(clips, paths, tmp_path / "cache", CFG, progress=False)
    assert set(fs.failures) == {"tiny"} and "0.14 s of audio is shorter than the minimum" in fs.failures["tiny"]
    assert set(fs.table["clip_id"]) == {"good", "quiet-tail", "short"}
    assert np.isfinite(fs.features()).all()
    # training sees the short clip exactly as serving will: repeated to one segment (both with BLAS at one thread,
    # as the service runs: a second thread may round the last float32 bit of a feature differently)
    with one_blas_thread_inside():
        served = clip_features(load(paths[3], SR), CFG).features
    assert np.allclose(fs.table.loc[fs.table["clip_id"] == "short", fs.names].to_numpy(), served)


def test_cache_keys_follow_the_extractor_version() -> None:
    import genre.features.extractor as extractor

    # the recorded form: caches and saved models of earlier releases carry these keys and values
    assert extractor.versions() == {"features": extractor.FEATURES_VERSION, "mels": extractor.MELS_VERSION}
    for output, fields, version in (("features", extractor.FEATURE_FIELDS, extractor.FEATURES_VERSION),
                                    ("mels", extractor.MEL_FIELDS, extractor.MELS_VERSION)):
        values = {"version": version, **{f: getattr(CFG, f) for f in fields}}
        blob = json.dumps(values, sort_keys=True).encode()
        assert output_key(output, CFG) == hashlib.sha256(blob).hexdigest()[:12]
    before = output_key("features", CFG)
    extractor.FEATURES_VERSION += 1
    try:
        assert output_key("features", CFG) != before
    finally:
        extractor.FEATURES_VERSION -= 1


@pytest.mark.parametrize("level", [0.0, 0.25, -0.25])
def test_a_constant_segment_has_its_level_and_no_shape(level: float) -> None:
    from genre.features.extractor import feature_names

    names = feature_names(CFG)
    head = clip_features(np.full(5 * SR, level, np.float32), CFG).features[:, [names.index(n) for n in (
        "abs_mean", "abs_std", "abs_skew", "abs_kurtosis")]]
    np.testing.assert_allclose(head, [[abs(level), 0.0, 0.0, 0.0]] * len(head), atol=1e-7)
    # a real shape right beside it: a quiet ramp has the skewness and kurtosis of a uniform |y|
    ramp = clip_features(np.linspace(0.0, 0.5, 5 * SR, dtype=np.float32), CFG).features
    assert ramp[0, names.index("abs_skew")] == pytest.approx(0.0, abs=1e-3)
    assert ramp[0, names.index("abs_kurtosis")] == pytest.approx(-1.2, abs=1e-3)


def test_features_librosa_refuses_are_a_feature_error_and_a_segment_needs_one_fft_window() -> None:
    from genre.features.extractor import analyse, segment_features

    y = music(1)
    tiny = FeatureConfig(min_seconds=0.1, segment_seconds=0.15)  # 7 STFT frames: too few for 9-frame MFCC deltas
    with pytest.raises(FeatureError, match=r"^features cannot be computed: .*width=9") as refused:
        segment_features(analyse(y[: int(0.15 * SR)], tiny))
    assert type(refused.value.__cause__).__name__ == "ParameterError"
    window = FeatureConfig(min_seconds=0.04, segment_seconds=0.05)
    with pytest.raises(FeatureError, match=r"^clip of 1102 samples is shorter than one FFT window \(2048\)$"):
        analyse(y[: int(0.05 * SR)], window)
    one = FeatureConfig(min_seconds=0.04, segment_seconds=2048 / SR)  # a segment of exactly one window is enough
    assert analyse(y[:2048], one).mag.shape[0] == 1025
    with pytest.raises(FeatureError, match=r"^0\.50 s of audio is shorter than the minimum of 1 s"):
        fit_length(y[: SR // 2], CFG)
    assert len(fit_length(y[:SR], CFG)) == 3 * SR  # exactly the minimum is enough
