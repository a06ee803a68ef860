"""Handcrafted features and mel spectrograms from one decode and one STFT per clip.

Every spectral quantity (mel, MFCC, chroma, contrast, centroid, bandwidth, rolloff,
flatness, onset strength) derives from the clip's single magnitude spectrogram; only
the zero-crossing rate and RMS are read from the framed waveform itself, exactly as
librosa computes them from ``y``. Segment statistics are means and standard deviations
over each segment's frames, computed once per clip and sliced per segment.

Pre-emphasis for the mel images is applied in the frequency domain, as the filter's
squared gain ``|1 - a e^{-jw}|^2`` on the power spectrogram, so it costs no second STFT.

Which configuration fields touch which output is written down once, in
:data:`FEATURE_FIELDS` and :data:`MEL_FIELDS`: the cache keys hash exactly those, so a
change of ``n_mels`` recomputes the mel images and leaves the feature table alone.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from genre.config import FeatureConfig
from genre.data.audio import segment_bounds
from genre.features.numba_cache import import_librosa

# Bump a version when the code that computes that output changes its values. Caches key on them, and a
# predictor records them: a model is never served or gated on features it was not trained with.
# 3: silent or constant segments give finite moments; clips shorter than a segment are repeated to fill one.
FEATURES_VERSION = 3
MELS_VERSION = 3
# Config fields each output depends on; every FeatureConfig field must appear in one of them
# (a test checks), so a new field cannot silently escape the cache keys.
FEATURE_FIELDS = ("sample_rate", "segment_seconds", "segment_overlap", "n_fft", "hop_length", "n_mfcc", "min_seconds")
MEL_FIELDS = ("sample_rate", "segment_seconds", "segment_overlap", "n_fft", "hop_length", "n_mels", "preemphasis",
              "top_db", "min_seconds")
OUTPUTS = ("features", "mels")


class FeatureError(ValueError):
    """Audio the features cannot be computed from (e.g. shorter than ``min_seconds``); the message says why."""


def versions() -> dict[str, int]:
    """The code versions of both outputs, as recorded with a model."""
    return {"features": FEATURES_VERSION, "mels": MELS_VERSION}


@dataclass(frozen=True)
class Column:
    """One column of the feature table: its name, unit and meaning."""

    name: str
    unit: str
    meaning: str


# (block, width, unit, meaning) of the frame-level blocks, each summarised by mean and std per segment.
_FRAME_BLOCKS: tuple[tuple[str, str, str, str], ...] = (
    ("zcr", "1", "fraction of sample pairs per frame", "zero-crossing rate of the waveform (librosa zero_crossing_rate)"),
    ("rms", "1", "amplitude (full scale = 1)", "root-mean-square level of the waveform per frame (librosa rms)"),
    ("centroid", "1", "Hz", "spectral centroid: magnitude-weighted mean frequency"),
    ("bandwidth_p2", "1", "Hz", "spectral bandwidth, p=2: magnitude-weighted standard deviation around the centroid"),
    ("bandwidth_p3", "1", "Hz", "spectral bandwidth, p=3: p-th root of the 3rd absolute moment around the centroid"),
    ("bandwidth_p4", "1", "Hz", "spectral bandwidth, p=4: p-th root of the 4th absolute moment around the centroid"),
    ("rolloff", "1", "Hz", "frequency below which 85% of the magnitude lies"),
    ("flatness", "1", "ratio in [0, 1]", "spectral flatness: geometric over arithmetic mean of the power (noise-likeness)"),
    ("contrast", "7", "dB", "spectral contrast, 6 octave bands from 200 Hz plus the top band: peak minus valley"),
    ("mfcc", "n_mfcc", "dB-scaled cepstral coefficient", "MFCC from a 128-band mel power spectrogram in dB"),
    ("mfcc_delta", "n_mfcc", "MFCC units per frame", "first derivative of each MFCC (9-frame Savitzky-Golay)"),
    ("chroma", "12", "energy share in [0, 1]", "chroma (C, C#, ..., B), each frame scaled to a maximum of 1"),
)
_CLIP_COLUMNS = (
    Column("abs_mean", "amplitude (full scale = 1)", "mean of the absolute sample value over the segment"),
    Column("abs_std", "amplitude (full scale = 1)", "standard deviation of the absolute sample value"),
    Column("abs_skew", "1", "skewness of the absolute sample value (biased, as scipy.stats.skew)"),
    Column("abs_kurtosis", "1", "excess kurtosis of the absolute sample value (Fisher, biased, as scipy.stats.kurtosis)"),
    Column("tempo", "beats per minute", "tempo estimated from the segment's onset-strength envelope"),
)
_PITCH_CLASSES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")


def _width(width: str, cfg: FeatureConfig) -> int:
    return cfg.n_mfcc if width == "n_mfcc" else int(width)


def feature_columns(cfg: FeatureConfig) -> list[Column]:
    """Every column of the feature table with its unit, in the order :func:`segment_features` fills them."""
    columns = list(_CLIP_COLUMNS)
    for stat in ("mean", "std"):
        for block, width, unit, meaning in _FRAME_BLOCKS:
            n = _width(width, cfg)
            for i in range(n):
                name = block if n == 1 else f"{block}{i:02d}"
                which = f" ({_PITCH_CLASSES[i]})" if block == "chroma" else (f" (coefficient {i})" if n > 1 else "")
                columns.append(Column(f"{name}_{stat}", unit, f"{stat} over the segment's frames of the {meaning}{which}"))
    return columns


def feature_names(cfg: FeatureConfig) -> list[str]:
    """Column names, in the order :func:`segment_features` fills them."""
    return [c.name for c in feature_columns(cfg)]


def output_key(output: str, cfg: FeatureConfig) -> str:
    """Cache key of one output ("features" or "mels"): a hash of the fields it depends on and its code version."""
    fields, version = {"features": (FEATURE_FIELDS, FEATURES_VERSION), "mels": (MEL_FIELDS, MELS_VERSION)}[output]
    values = cfg.model_dump(mode="json")
    blob = json.dumps({"version": version, **{f: values[f] for f in fields}}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:12]


def feature_keys(cfg: FeatureConfig) -> dict[str, str]:
    """The cache key of every output: what a model's feature configuration is recorded as."""
    return {output: output_key(output, cfg) for output in OUTPUTS}


@dataclass(frozen=True)
class ClipFeatures:
    """Segment-level features (n_segments, n_features) float32 and mel dB images (n_segments, n_mels, frames)."""

    features: np.ndarray
    mels: np.ndarray


@dataclass(frozen=True)
class Spectra:
    """What every feature shares: the signal, its magnitude and power spectrograms and the segment bounds."""

    y: np.ndarray
    mag: np.ndarray
    power: np.ndarray
    segments: list[tuple[int, int]]
    cfg: FeatureConfig

    def frame_ranges(self) -> list[tuple[int, int]]:
        """First and last+1 STFT frame of each segment."""
        seg_len, n_frames, hop = segment_frames(self.cfg), self.mag.shape[1], self.cfg.hop_length
        return [(s0 // hop, min(n_frames, s0 // hop + seg_len)) for s0, _ in self.segments]


@lru_cache(maxsize=8)
def _mel_basis(sr: int, n_fft: int, n_mels: int) -> np.ndarray:
    librosa = import_librosa()

    return librosa.filters.mel(sr=sr, n_fft=n_fft, n_mels=n_mels).astype(np.float32)


@lru_cache(maxsize=8)
def _preemphasis_gain(n_fft: int, coef: float) -> np.ndarray:
    w = np.linspace(0, np.pi, 1 + n_fft // 2)
    return (1 + coef**2 - 2 * coef * np.cos(w)).astype(np.float32)[:, None]


@lru_cache(maxsize=8)
def _frequencies(sr: int, n_fft: int) -> np.ndarray:
    return np.linspace(0, sr / 2, 1 + n_fft // 2, dtype=np.float32)[:, None]


@lru_cache(maxsize=4)
def _window(n_fft: int) -> np.ndarray:
    return (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n_fft) / n_fft)).astype(np.float32)  # periodic Hann


def stft_magnitude(y: np.ndarray, n_fft: int, hop: int) -> np.ndarray:
    """(1 + n_fft/2, 1 + len(y)//hop) float32 |STFT|: librosa.stft's centred, zero-padded Hann frames."""
    from scipy import fft

    frames = np.lib.stride_tricks.sliding_window_view(np.pad(y, n_fft // 2), n_fft)[::hop]
    return np.ascontiguousarray(np.abs(fft.rfft(frames * _window(n_fft), axis=1)).T)


def segment_frames(cfg: FeatureConfig) -> int:
    """Number of STFT frames in one full segment."""
    return 1 + int(round(cfg.segment_seconds * cfg.sample_rate)) // cfg.hop_length


def fit_length(y: np.ndarray, cfg: FeatureConfig) -> np.ndarray:
    """``y`` itself, or repeated end to end to fill one segment when shorter; below ``min_seconds`` a FeatureError.

    Training and serving both pass through here, so a short clip looks the same to the models in both.
    """
    seconds = len(y) / cfg.sample_rate
    if seconds < cfg.min_seconds:
        raise FeatureError(f"{seconds:.2f} s of audio is shorter than the minimum of {cfg.min_seconds:g} s "
                           "(features.min_seconds)")
    size = int(round(cfg.segment_seconds * cfg.sample_rate))
    return np.resize(y, size) if len(y) < size else y


def analyse(y: np.ndarray, cfg: FeatureConfig) -> Spectra:
    """The clip's one STFT (centred Hann frames of ``n_fft``, hop ``hop_length``) after :func:`fit_length`."""
    y = fit_length(y, cfg)
    if len(y) < cfg.n_fft:
        raise FeatureError(f"clip of {len(y)} samples is shorter than one FFT window ({cfg.n_fft})")
    mag = stft_magnitude(y, cfg.n_fft, cfg.hop_length)
    segments = segment_bounds(len(y), cfg.sample_rate, cfg.segment_seconds, cfg.segment_overlap)
    return Spectra(y=y, mag=mag, power=mag * mag, segments=segments, cfg=cfg)


def _centroid_bandwidths(mag: np.ndarray, freq: np.ndarray) -> list[np.ndarray]:
    """Centroid and bandwidths p=2,3,4 from one normalised spectrogram (librosa's definitions, fused)."""
    total = mag.sum(axis=0, keepdims=True)
    total[total < np.finfo(mag.dtype).tiny] = 1.0  # silent frames stay all-zero, as librosa's normalize leaves them
    weights = mag / total
    centroid = (weights * freq).sum(axis=0, keepdims=True)
    dev = np.abs(freq - centroid)
    dev2 = dev * dev
    return [centroid, np.sqrt((weights * dev2).sum(axis=0, keepdims=True)),
            np.cbrt((weights * dev2 * dev).sum(axis=0, keepdims=True)),
            np.sqrt(np.sqrt((weights * dev2 * dev2).sum(axis=0, keepdims=True)))]


def _rolloff(mag: np.ndarray, freq: np.ndarray, share: float = 0.85) -> np.ndarray:
    """Lowest bin frequency whose cumulative magnitude reaches ``share`` of the frame's total (librosa's rule)."""
    cumulative = np.cumsum(mag, axis=0)
    first = np.argmax(cumulative >= share * cumulative[-1:], axis=0)
    return freq[first, 0][None, :]


def _zcr_rms(y: np.ndarray, frame: int, hop: int) -> list[np.ndarray]:
    """librosa's zero_crossing_rate(y) and rms(y) on centred frames, from running sums instead of framing.

    A crossing is a sign change between neighbouring samples inside a frame (|x| <= 1e-10 counts
    as zero, zero as positive; the signal edge-padded); RMS uses the zero-padded signal.
    """
    pad = frame // 2
    starts = np.arange(1 + len(y) // hop) * hop
    edge = np.pad(y, pad, mode="edge")
    neg = edge < -1e-10
    crossings = np.concatenate([[0], np.cumsum(neg[1:] != neg[:-1])])  # crossings[i]: those among samples 1..i
    zcr = (crossings[starts + frame - 1] - crossings[starts]) / frame
    energy = np.concatenate([[0.0], np.cumsum(np.square(np.pad(y, pad), dtype=np.float64))])
    rms = np.sqrt(np.maximum(energy[starts + frame] - energy[starts], 0.0) / frame)
    return [zcr[None, :].astype(np.float32), rms[None, :].astype(np.float32)]


def _tuning(power: np.ndarray, sr: int, n_fft: int, fmin: float = 150.0, fmax: float = 4000.0) -> float:
    """librosa.estimate_tuning(S=power, sr=sr) for chroma, with piptrack's peak picking done only on
    the bins between fmin and fmax (the only ones it keeps): same result, a third of the work."""
    librosa = import_librosa()

    freqs = np.linspace(0, sr / 2, 1 + n_fft // 2)
    band = np.flatnonzero((freqs >= fmin) & (freqs < fmax))
    lo, hi = band[0], band[-1] + 1
    s = power[lo - 1:hi + 1]  # one neighbour each side for the 3-bin stencils
    prev, cur, nxt = s[:-2], s[1:-1], s[2:]
    curvature, slope = nxt + prev - 2 * cur, (nxt - prev) / 2
    with np.errstate(divide="ignore", invalid="ignore"):
        shift = np.where(np.abs(slope) < np.abs(curvature), -slope / curvature, 0).astype(power.dtype)
    masked = np.where(s > 0.1 * power.max(axis=0), s, 0)  # piptrack's threshold relative to each frame's peak
    peak = (masked[1:-1] > masked[:-2]) & (masked[1:-1] >= masked[2:])
    rows, cols = np.nonzero(peak)
    pitch = (lo + rows + shift[rows, cols]) * float(sr) / n_fft
    mag = cur[rows, cols] + 0.5 * slope[rows, cols] * shift[rows, cols]
    keep = pitch > 0
    if not keep.any():  # silence or no tonal peak: librosa would warn and answer 0.0
        return 0.0
    threshold = np.median(mag[keep])
    return float(librosa.pitch_tuning(pitch[(mag >= threshold) & keep], resolution=0.01, bins_per_octave=12))


def _abs_moments(y: np.ndarray, segments: list[tuple[int, int]]) -> np.ndarray:
    """(n_segments, 4): mean, std, skewness and excess kurtosis of |y| per segment (biased, as scipy)."""
    out = np.empty((len(segments), 4))
    for i, (s0, s1) in enumerate(segments):
        a = np.abs(y[s0:s1], dtype=np.float64)
        mean = a.mean()
        d = a - mean
        d2 = d * d
        m2, m3, m4 = d2.mean(), (d2 * d).mean(), (d2 * d2).mean()
        if m2 <= 1e-12 * max(mean * mean, 1e-12):  # silence or a constant level: no shape to measure
            out[i] = mean, np.sqrt(m2), 0.0, 0.0
        else:
            out[i] = mean, np.sqrt(m2), m3 / m2**1.5, m4 / m2**2 - 3.0
    return out


def segment_features(sp: Spectra) -> np.ndarray:
    """(n_segments, n_features) float32 in the order of :func:`feature_names`; a FeatureError if librosa refuses."""
    librosa = import_librosa()
    try:
        return _segment_features(sp)
    except librosa.util.exceptions.ParameterError as exc:  # not a ValueError in librosa 0.11
        raise FeatureError(f"features cannot be computed: {exc}") from exc


def _segment_features(sp: Spectra) -> np.ndarray:
    librosa = import_librosa()

    cfg, mag, power = sp.cfg, sp.mag, sp.power
    sr, n_fft, hop = cfg.sample_rate, cfg.n_fft, cfg.hop_length
    freq = _frequencies(sr, n_fft)
    mel_db = librosa.power_to_db(_mel_basis(sr, n_fft, 128) @ power)  # librosa's default mel for MFCC and onsets
    mfcc = librosa.feature.mfcc(S=mel_db, n_mfcc=cfg.n_mfcc)
    frame_blocks = [
        *_zcr_rms(sp.y, n_fft, hop),
        *_centroid_bandwidths(mag, freq),
        _rolloff(mag, freq),
        librosa.feature.spectral_flatness(S=power, power=1.0),
        librosa.feature.spectral_contrast(S=mag, sr=sr),
        mfcc,
        librosa.feature.delta(mfcc),
        librosa.feature.chroma_stft(S=power, sr=sr, tuning=_tuning(power, sr, n_fft)),
    ]
    n_frames = mag.shape[1]
    frames = np.concatenate([b[:, :n_frames] for b in frame_blocks], axis=0)
    onset = librosa.onset.onset_strength(S=mel_db, sr=sr)
    ranges = sp.frame_ranges()
    envelopes = np.stack([onset[f0:f1] for f0, f1 in ranges])  # full segments all have the same length
    tempo = librosa.feature.tempo(onset_envelope=envelopes, sr=sr, hop_length=hop)[:, 0]
    stats = np.stack([np.concatenate([frames[:, f0:f1].mean(axis=1), frames[:, f0:f1].std(axis=1)])
                      for f0, f1 in ranges])
    return np.concatenate([_abs_moments(sp.y, sp.segments), tempo[:, None], stats], axis=1).astype(np.float32)


def clip_mel_db(sp: Spectra) -> np.ndarray:
    """(n_mels, frames) float32 pre-emphasised mel power in dB, 0 dB at the clip's maximum, floor -top_db."""
    librosa = import_librosa()

    cfg = sp.cfg
    mel = _mel_basis(cfg.sample_rate, cfg.n_fft, cfg.n_mels) @ (sp.power * _preemphasis_gain(cfg.n_fft, cfg.preemphasis))
    return librosa.power_to_db(mel, ref=np.max, top_db=cfg.top_db).astype(np.float32, copy=False)


def segment_mels(sp: Spectra) -> np.ndarray:
    """(n_segments, n_mels, segment frames) float16 mel dB images; a short clip is padded with -top_db."""
    cfg = sp.cfg
    mel_db = clip_mel_db(sp)
    images = np.full((len(sp.segments), cfg.n_mels, segment_frames(cfg)), -cfg.top_db, dtype=np.float16)
    for img, (f0, f1) in zip(images, sp.frame_ranges()):
        img[:, : f1 - f0] = mel_db[:, f0:f1]
    return images


def clip_features(y: np.ndarray, cfg: FeatureConfig) -> ClipFeatures:
    """Features and mel images of every segment of the mono signal ``y``."""
    sp = analyse(y, cfg)
    return ClipFeatures(features=segment_features(sp), mels=segment_mels(sp))


def markdown(cfg: FeatureConfig) -> str:
    """The feature table's documentation (docs/features.md is this text for the default config)."""
    lines = [
        "# Feature table",
        "",
        "Generated by `python -m genre.features.extractor > docs/features.md` from `genre/features/extractor.py`; a test checks it is",
        "current. One row per segment (default: 3 s windows with 50% overlap); all feature columns are float32.",
        "Frame-level quantities use one STFT per clip (Hann window, n_fft 2048, hop 512 at 22050 Hz, centred",
        "frames); each segment's row summarises the frames that fall in it by their mean and standard deviation.",
        "Besides the features the table holds `clip_id`, `segment` (index of the window in the clip) and `label`.",
        "",
        f"Mel images (not in the table): `mels.npy`, float16, shape (segments, n_mels={cfg.n_mels}, "
        f"frames={segment_frames(cfg)}), pre-emphasis {cfg.preemphasis} as a frequency-domain gain, power in dB "
        f"relative to the clip's maximum (0 dB), floored at -{cfg.top_db:g} dB. Row i of the table is image i.",
        "",
        "| column | unit | meaning |",
        "|---|---|---|",
    ]
    lines += [f"| `{c.name}` | {c.unit} | {c.meaning} |" for c in feature_columns(cfg)]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(markdown(FeatureConfig()), end="")
