"""The one-STFT extractor agrees with librosa's own functions on real GTZAN clips.

Stated tolerances:
- one segment covering the whole clip: every column within 1e-3 relative (float32 rounding, which
  the logarithms of spectral-contrast valleys amplify; most columns agree to 1e-5) of librosa
  called on the raw signal, each function with its own STFT; tempo identical;
- default 3 s segments against librosa on each raw segment: the frames at a segment's edges
  differ (the extractor slices the clip's frames, librosa pads the segment), so 90% of
  differences stay below 0.3 of the column's spread, every column correlates at >= 0.8 (except
  tempo and the near-zero means of MFCC deltas), and tempo matches on >= 80% of segments;
- mel images against librosa's melspectrogram of the pre-emphasised signal: median 0.05 dB,
  99th percentile 0.5 dB.
"""

from __future__ import annotations

from pathlib import Path

import librosa
import numpy as np
import pytest
from scipy import stats

from genre.config import FeatureConfig
from genre.data.audio import load
from genre.features.extractor import (
    FEATURE_FIELDS,
    MEL_FIELDS,
    analyse,
    clip_mel_db,
    feature_columns,
    feature_names,
    markdown,
    output_key,
    segment_features,
    segment_mels,
)

SR = 22050
ROOT = Path(__file__).resolve().parent.parent


def librosa_row(y: np.ndarray, n_mfcc: int = 20, sr: int = SR) -> np.ndarray:
    """The reference: each librosa feature function on the raw signal, in feature_names order."""
    a = np.abs(y)
    mfcc = librosa.feature.mfcc(y=y, sr=sr, n_mfcc=n_mfcc)
    blocks = [
        librosa.feature.zero_crossing_rate(y, frame_length=2048, hop_length=512),
        librosa.feature.rms(y=y),
        librosa.feature.spectral_centroid(y=y, sr=sr),
        *(librosa.feature.spectral_bandwidth(y=y, sr=sr, p=p) for p in (2, 3, 4)),
        librosa.feature.spectral_rolloff(y=y, sr=sr),
        librosa.feature.spectral_flatness(y=y),
        librosa.feature.spectral_contrast(y=y, sr=sr),
        mfcc,
        librosa.feature.delta(mfcc),
        librosa.feature.chroma_stft(y=y, sr=sr),
    ]
    head = [a.mean(), a.std(), stats.skew(a), stats.kurtosis(a), librosa.feature.tempo(y=y, sr=sr)[0]]
    return np.concatenate([head] + [b.mean(axis=1) for b in blocks] + [b.std(axis=1) for b in blocks])


@pytest.fixture(scope="module")
def clips(gtzan_mini: Path) -> list[np.ndarray]:
    """Five real clips of five genres."""
    genres = ["blues", "classical", "hiphop", "metal", "reggae"]
    return [load(sorted((gtzan_mini / g).glob("*.wav"))[0], SR) for g in genres]


def test_whole_clip_matches_librosa(clips: list[np.ndarray]) -> None:
    names = feature_names(FeatureConfig())
    for y in clips:
        cfg = FeatureConfig(segment_seconds=len(y) / 22050)  # one segment holding every frame of the clip
        ours = segment_features(analyse(y, cfg))
        assert ours.shape == (1, len(names)) and ours.dtype == np.float32
        ref = librosa_row(y)
        off = ~np.isclose(ours[0], ref, rtol=1e-3, atol=1e-6)
        assert not off.any(), {n: (float(a), float(b)) for n, a, b in zip(np.array(names)[off], ours[0][off], ref[off])}
        assert ours[0, names.index("tempo")] == pytest.approx(ref[names.index("tempo")], rel=1e-6)


def test_whole_clip_matches_librosa_at_another_sample_rate(clips: list[np.ndarray]) -> None:
    """Every librosa call is given the configured rate (librosa's default, 22050 Hz, would hide a missing one)."""
    names = feature_names(FeatureConfig())
    for y in clips[:2]:
        y = librosa.resample(y, orig_sr=SR, target_sr=16000)
        cfg = FeatureConfig(sample_rate=16000, segment_seconds=len(y) / 16000)
        ours, ref = segment_features(analyse(y, cfg))[0], librosa_row(y, sr=16000)
        # the top contrast band (6.4-8 kHz here) holds few bins: its quantiles follow float32 rounding more
        rtol = np.where(np.char.startswith(np.array(names), "contrast06"), 3e-2, 1e-3)
        off = ~np.isclose(ours, ref, rtol=rtol, atol=1e-6)
        assert not off.any(), {n: (float(a), float(b)) for n, a, b in zip(np.array(names)[off], ours[off], ref[off])}


def test_segments_match_librosa_on_raw_segments(clips: list[np.ndarray]) -> None:
    cfg = FeatureConfig()
    names = np.array(feature_names(cfg))
    ours, refs = [], []
    for y in clips:
        sp = analyse(y, cfg)
        ours.append(segment_features(sp))
        refs.append(np.stack([librosa_row(y[s0:s1]) for s0, s1 in sp.segments]))
    ours, refs = np.concatenate(ours), np.concatenate(refs)
    assert len(ours) > 40
    tempo = names == "tempo"
    edge_sensitive = tempo | np.array([n.startswith("mfcc_delta") and n.endswith("_mean") for n in names])
    spread = refs.std(axis=0)
    z = np.abs(ours - refs)[:, ~edge_sensitive] / spread[~edge_sensitive]
    assert np.percentile(z, 90) < 0.3
    corr = np.array([np.corrcoef(ours[:, k], refs[:, k])[0, 1] for k in np.flatnonzero(~edge_sensitive)])
    assert corr.min() >= 0.8, names[~edge_sensitive][corr.argmin()]
    assert np.mean(np.isclose(ours[:, tempo], refs[:, tempo], rtol=0.01)) >= 0.8


def test_mel_images_match_librosa_preemphasis(clips: list[np.ndarray]) -> None:
    cfg = FeatureConfig()
    for y in clips[:3]:
        sp = analyse(y, cfg)
        ours = clip_mel_db(sp)
        emphasised = librosa.effects.preemphasis(y, coef=cfg.preemphasis)
        ref = librosa.power_to_db(librosa.feature.melspectrogram(y=emphasised, sr=SR, n_mels=cfg.n_mels),
                                  ref=np.max, top_db=cfg.top_db)
        diff = np.abs(ours - ref)
        assert np.median(diff) < 0.05 and np.percentile(diff, 99) < 0.5
        images = segment_mels(sp)
        assert images.dtype == np.float16 and images.shape == (len(sp.segments), 96, 130)
        f0 = sp.frame_ranges()[1][0]
        np.testing.assert_allclose(images[1], ours[:, f0:f0 + 130], atol=0.05)


def test_every_config_field_is_in_a_cache_key() -> None:
    assert set(FEATURE_FIELDS) | set(MEL_FIELDS) == set(FeatureConfig.model_fields)
    base = FeatureConfig()
    for field, value in [("n_mels", 64), ("preemphasis", 0.0), ("top_db", 60.0)]:
        changed = base.model_copy(update={field: value})
        assert output_key("mels", changed) != output_key("mels", base)
        assert output_key("features", changed) == output_key("features", base)
    changed = base.model_copy(update={"n_mfcc": 13})
    assert output_key("features", changed) != output_key("features", base)
    assert output_key("mels", changed) == output_key("mels", base)


def test_feature_docs_are_current() -> None:
    doc = (ROOT / "docs" / "features.md").read_text()
    assert doc == markdown(FeatureConfig()), "regenerate: python -m genre.features.extractor > docs/features.md"
    for name in feature_names(FeatureConfig()):
        assert f"| `{name}` |" in doc


def test_rolloff_takes_the_first_bin_that_reaches_the_share_as_librosa_does() -> None:
    from genre.features.extractor import _rolloff

    freq = np.array([[100.0], [200.0], [300.0]])
    mag = np.array([[0.85, 0.0, 0.5], [0.15, 0.85, 0.25], [0.0, 0.15, 0.25]])  # frame 0 reaches 0.85 at its first bin
    ours = _rolloff(mag, freq)
    assert ours.tolist() == [[100.0, 200.0, 300.0]]
    assert np.array_equal(ours, librosa.feature.spectral_rolloff(S=mag, freq=freq[:, 0], roll_percent=0.85))


def test_coefficients_are_named_in_the_docs_whatever_their_number() -> None:
    two = [c.meaning for c in feature_columns(FeatureConfig(n_mfcc=2)) if c.name.startswith("mfcc0")]
    assert len(set(two)) == len(two) and "(coefficient 1)" in two[1]


def test_zero_crossings_and_rms_equal_librosa_at_the_edges_the_threshold_and_over_long_clips() -> None:
    from genre.features.extractor import _zcr_rms

    rng = np.random.default_rng(3)
    y = rng.choice(np.array([-0.5, -1e-10, 0.0, 5e-11, 0.5], dtype=np.float32), size=6000)
    y[:1500] = -0.25  # starts and ends below zero: the edge padding must not cross
    y[-1500:] = -0.25
    zcr, rms = _zcr_rms(y, 2048, 512)
    assert np.array_equal(zcr, librosa.feature.zero_crossing_rate(y, frame_length=2048, hop_length=512))
    assert np.allclose(rms, librosa.feature.rms(y=y, frame_length=2048, hop_length=512), rtol=1e-6, atol=0)
    long = rng.uniform(-1, 1, 120 * 22050).astype(np.float32)  # running sums of 2.6 M squares need float64
    assert np.allclose(_zcr_rms(long, 2048, 512)[1], librosa.feature.rms(y=long, frame_length=2048, hop_length=512),
                       rtol=1e-5, atol=0)


@pytest.mark.parametrize(("sr", "n_fft"), [(22050, 2048), (16000, 2048), (9600, 1024), (9568, 1024)])
def test_tuning_equals_librosa_estimate_tuning(clips: list[np.ndarray], sr: int, n_fft: int) -> None:
    """Chroma's tuning estimate, as librosa makes it: on a detuned harmonic tone, tones on the band edges (a bin
    falls exactly on 4000 Hz at 16 kHz / 2048, on 150 Hz at 9.6 kHz / 1024 and half a hertz below it at 9568 Hz)
    and on its highest bin, the tone very quietly (peaks below 1), noise, a real clip and silence."""
    import warnings

    from genre.features.extractor import _tuning

    t = np.arange(3 * sr) / sr
    detuned = sum(np.sin(2 * np.pi * 440 * 2 ** (0.3 / 12) * k * t) / k for k in range(1, 8))  # A +30 cents
    bins = np.linspace(0, sr / 2, 1 + n_fft // 2)
    top = bins[bins < 4000][-1]  # the highest bin the estimate looks at
    edges = np.sin(2 * np.pi * 150 * t) + np.sin(2 * np.pi * 4000 * t) + np.sin(2 * np.pi * top * t)
    noise = np.random.default_rng(5).standard_normal(len(t))
    real = librosa.resample(clips[0], orig_sr=SR, target_sr=sr)
    for y in (detuned, edges, detuned * 1e-4, noise, real, np.zeros(len(t))):
        power = np.abs(librosa.stft(y.astype(np.float32), n_fft=n_fft, hop_length=512)) ** 2
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # librosa warns that silence has no pitch (and answers 0.0)
            expected = librosa.estimate_tuning(S=power, sr=sr, n_fft=n_fft)
        assert _tuning(power, sr, n_fft) == pytest.approx(expected, abs=1e-9)
    assert _tuning(np.zeros((1 + n_fft // 2, 4), np.float32), sr, n_fft) == 0.0


def test_abs_moments_of_very_quiet_noise_are_measured_and_silence_has_none() -> None:
    """Only a constant level has no shape: noise at -140 dBFS keeps scipy's skewness and kurtosis."""
    from genre.features.extractor import _abs_moments

    quiet = np.random.default_rng(4).standard_normal(22050) * 1e-7
    a = np.abs(quiet)
    out = _abs_moments(np.concatenate([quiet, np.zeros(22050)]), [(0, 22050), (22050, 44100)])
    np.testing.assert_allclose(out[0], [a.mean(), a.std(), stats.skew(a), stats.kurtosis(a)], rtol=1e-6)
    assert out[1].tolist() == [0.0, 0.0, 0.0, 0.0]


def test_tempo_and_mel_images_follow_a_hop_length_and_top_db_other_than_librosas_defaults(
        clips: list[np.ndarray]) -> None:
    names = feature_names(FeatureConfig())
    y = clips[0]
    cfg = FeatureConfig(hop_length=256, top_db=60.0, segment_seconds=len(y) / SR)
    sp = analyse(y, cfg)
    tempo = segment_features(sp)[0, names.index("tempo")]
    assert tempo == pytest.approx(librosa.feature.tempo(y=y, sr=SR, hop_length=256)[0], rel=1e-6)
    mel = clip_mel_db(sp)
    assert mel.min() == pytest.approx(mel.max() - 60.0)  # floored 60 dB under the peak, not librosa's 80
