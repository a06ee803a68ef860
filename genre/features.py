"""Handcrafted features and mel spectrograms from one decode and one STFT per clip.

Every frame-level quantity (mel, MFCC, chroma, contrast, centroid, bandwidth, rolloff,
RMS, onset strength) derives from the clip's single magnitude spectrogram; segment
statistics are means and standard deviations over each segment's frames.
Pre-emphasis for the mel images is applied in the frequency domain, as the filter's
squared gain ``|1 - a e^{-jw}|^2`` on the power spectrogram, so it costs no second STFT.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from scipy import stats

from genre.audio import segment_bounds
from genre.config import FeatureConfig

_PAIRS = ("mean", "std")


def feature_names(cfg: FeatureConfig) -> list[str]:
    """Column names, in the order :func:`clip_features` fills them."""
    names = ["abs_mean", "abs_std", "abs_skew", "abs_kurtosis", "tempo"]
    frame_blocks = [("zcr", 1), ("rms", 1), ("centroid", 1), ("bandwidth_p2", 1), ("bandwidth_p3", 1),
                    ("bandwidth_p4", 1), ("rolloff", 1), ("contrast", 7), ("mfcc", cfg.n_mfcc),
                    ("mfcc_delta", cfg.n_mfcc), ("chroma", 12)]
    for stat in _PAIRS:
        for block, width in frame_blocks:
            names += [f"{block}_{stat}"] if width == 1 else [f"{block}{i:02d}_{stat}" for i in range(width)]
    return names


@dataclass(frozen=True)
class ClipFeatures:
    """Segment-level features (n_segments, n_features) and mel dB images (n_segments, n_mels, frames)."""

    features: np.ndarray
    mels: np.ndarray


@lru_cache(maxsize=8)
def _mel_basis(sr: int, n_fft: int, n_mels: int) -> np.ndarray:
    import librosa

    return librosa.filters.mel(sr=sr, n_fft=n_fft, n_mels=n_mels).astype(np.float32)


@lru_cache(maxsize=8)
def _preemphasis_gain(sr: int, n_fft: int, coef: float) -> np.ndarray:
    w = np.linspace(0, np.pi, 1 + n_fft // 2)
    return (1 + coef**2 - 2 * coef * np.cos(w)).astype(np.float32)[:, None]


def segment_frames(cfg: FeatureConfig) -> int:
    """Number of STFT frames in one full segment."""
    return 1 + int(round(cfg.segment_seconds * cfg.sample_rate)) // cfg.hop_length


def clip_features(y: np.ndarray, cfg: FeatureConfig) -> ClipFeatures:
    """Features and mel images of every segment of the mono signal ``y``."""
    import librosa

    sr, hop, n_fft = cfg.sample_rate, cfg.hop_length, cfg.n_fft
    if len(y) < n_fft:
        raise ValueError(f"clip of {len(y)} samples is shorter than one FFT window ({n_fft})")
    mag = np.abs(librosa.stft(y, n_fft=n_fft, hop_length=hop)).astype(np.float32)
    power = mag**2
    mel_images = librosa.power_to_db(
        _mel_basis(sr, n_fft, cfg.n_mels) @ (power * _preemphasis_gain(sr, n_fft, cfg.preemphasis)),
        ref=np.max, top_db=cfg.top_db,
    )
    mel128 = _mel_basis(sr, n_fft, 128) @ power  # librosa's default mel for MFCC
    mfcc = librosa.feature.mfcc(S=librosa.power_to_db(mel128), n_mfcc=cfg.n_mfcc)
    frame_blocks = [
        librosa.feature.zero_crossing_rate(y, frame_length=n_fft, hop_length=hop),
        librosa.feature.rms(S=mag, frame_length=n_fft),
        librosa.feature.spectral_centroid(S=mag, sr=sr),
        *(librosa.feature.spectral_bandwidth(S=mag, sr=sr, p=p) for p in (2, 3, 4)),
        librosa.feature.spectral_rolloff(S=mag, sr=sr),
        librosa.feature.spectral_contrast(S=mag, sr=sr),
        mfcc,
        librosa.feature.delta(mfcc),
        librosa.feature.chroma_stft(S=power, sr=sr),
    ]
    n_frames = mag.shape[1]
    frames = np.concatenate([b[:, :n_frames] for b in frame_blocks], axis=0)
    onset = librosa.onset.onset_strength(S=librosa.power_to_db(mel128), sr=sr)
    seg_len = segment_frames(cfg)
    rows, images = [], []
    for s0, s1 in segment_bounds(len(y), sr, cfg.segment_seconds, cfg.segment_overlap):
        f0 = s0 // hop
        f1 = min(n_frames, f0 + seg_len)
        seg = y[s0:s1]
        a = np.abs(seg)
        tempo = librosa.feature.tempo(onset_envelope=onset[f0:f1], sr=sr, hop_length=hop)[0]
        block = frames[:, f0:f1]
        rows.append(np.concatenate([
            [a.mean(), a.std(), stats.skew(a), stats.kurtosis(a), tempo],
            block.mean(axis=1), block.std(axis=1),
        ]))
        img = np.full((cfg.n_mels, seg_len), -cfg.top_db, dtype=np.float32)
        img[:, : f1 - f0] = mel_images[:, f0:f1]
        images.append(img)
    features = np.asarray(rows, dtype=np.float32)
    return ClipFeatures(features=features, mels=np.asarray(images, dtype=np.float16))
