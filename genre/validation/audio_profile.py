"""A cheap per-clip audio profile for data validation: loudness, clipping, NaNs and a fingerprint.

Each stored clip is decoded once at its own sample rate (no resampling, so clipped
samples stay at full scale) and summarised; the profile is cached by the clip's sha256.
The fingerprint is the time course of 16 log-mel band energies in half-second blocks
over the first 30 s, with each band's mean removed and the whole unit-normalised: the
cosine similarity of two fingerprints is about 1 for the same recording re-encoded,
shifted by a few milliseconds or turned up or down, and well below 0.6 between
different recordings.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import cast

import numpy as np
from tqdm.auto import tqdm

from genre.atomic import atomic_path
from genre.data.audio import AudioError, load
from genre.threads import one_blas_thread

FP_RATE = 11025
FP_FFT = 1024
FP_HOP = 256
FP_BANDS = 16
FP_BLOCK_SECONDS = 0.5
FP_SECONDS = 30.0
FP_BLOCKS = int(FP_SECONDS / FP_BLOCK_SECONDS)
PROFILE_VERSION = 2  # 2: clipping measured per channel, before the down-mix


@dataclass(frozen=True)
class AudioProfile:
    """What the validation needs to know about one clip's samples."""

    decodable: bool
    error: str
    seconds: float
    rms: float
    clipped_share: float
    nonfinite_share: float
    fingerprint: np.ndarray

    @classmethod
    def undecodable(cls, error: str) -> AudioProfile:
        nan = float("nan")
        return cls(False, error, 0.0, nan, nan, nan, np.zeros(FP_BANDS * FP_BLOCKS, dtype=np.float16))


def fingerprint(y: np.ndarray, sample_rate: int) -> np.ndarray:
    """Unit-norm (bands x blocks) signature of the signal's energy over time, as float16."""
    import soxr

    from genre.features.extractor import _mel_basis
    from genre.features.numba_cache import import_librosa

    librosa = import_librosa()

    if sample_rate != FP_RATE:
        y = soxr.resample(y, sample_rate, FP_RATE).astype(np.float32)
    y = y[: int(FP_SECONDS * FP_RATE)]
    out = np.zeros((FP_BANDS, FP_BLOCKS), dtype=np.float32)
    if len(y) >= FP_FFT:
        power = np.abs(librosa.stft(y, n_fft=FP_FFT, hop_length=FP_HOP)) ** 2
        bands = np.log(_mel_basis(FP_RATE, FP_FFT, FP_BANDS) @ power + 1e-10)
        per = int(round(FP_BLOCK_SECONDS * FP_RATE / FP_HOP))
        blocks = min(FP_BLOCKS, bands.shape[1] // per)
        if blocks:
            means = bands[:, : blocks * per].reshape(FP_BANDS, blocks, per).mean(axis=2)
            out[:, :blocks] = means - means.mean(axis=1, keepdims=True)
    flat = out.ravel()
    norm = float(np.linalg.norm(flat))
    return (flat / norm if norm > 1e-6 else np.zeros_like(flat)).astype(np.float16)


def profile_signal(y: np.ndarray, sample_rate: int, full_scale: float) -> AudioProfile:
    """Profile of decoded samples ``y``, (frames,) or (frames, channels), which may hold NaN or inf.

    Clipping is the share of full-scale samples in the worst channel, measured before the down-mix
    (a channel clipped hard beside a quiet one stays visible); the rest is measured on the mono mix.
    """
    channels = y.reshape(len(y), -1)
    finite = np.isfinite(channels)
    nonfinite = 1.0 - float(finite.mean()) if channels.size else 0.0
    channels = np.where(finite, channels, np.float32(0.0))
    clipped = float(np.max(np.mean(np.abs(channels) >= full_scale, axis=0))) if channels.size else 0.0
    mono = channels.mean(axis=1, dtype=np.float32)
    rms = float(np.sqrt(np.mean(np.square(mono, dtype=np.float64)))) if len(mono) else 0.0
    return AudioProfile(True, "", len(mono) / sample_rate, rms, clipped, nonfinite, fingerprint(mono, sample_rate))


def profile_file(path: str | Path, sample_rate: int, full_scale: float) -> AudioProfile:
    """Decode ``path`` at ``sample_rate``, every channel kept, and profile it; undecodable gives ``decodable=False``."""
    try:
        y = load(path, sample_rate, finite=False, mono=False)
    except AudioError as exc:
        return AudioProfile.undecodable(str(exc))
    return profile_signal(y, sample_rate, full_scale)


class ProfileCache:
    """``root/<settings hash>/ab/<sha256>.npz``: one immutable profile per stored clip."""

    def __init__(self, root: str | Path, full_scale: float) -> None:
        self.full_scale = full_scale
        settings = {"version": PROFILE_VERSION, "full_scale": full_scale, "rate": FP_RATE, "bands": FP_BANDS,
                    "block": FP_BLOCK_SECONDS, "seconds": FP_SECONDS}
        self.dir = Path(root) / hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:12]

    def path(self, sha256: str) -> Path:
        return self.dir / sha256[:2] / f"{sha256}.npz"

    def get(self, sha256: str) -> AudioProfile | None:
        path = self.path(sha256)
        if not path.is_file():
            return None
        with np.load(path) as z:
            return AudioProfile(bool(z["decodable"]), str(z["error"]), float(z["seconds"]), float(z["rms"]),
                                float(z["clipped_share"]), float(z["nonfinite_share"]), z["fingerprint"])

    def put(self, sha256: str, p: AudioProfile) -> None:
        with atomic_path(self.path(sha256), suffix=".npz") as tmp:
            with open(tmp, "wb") as f:
                np.savez(f, decodable=p.decodable, error=p.error, seconds=p.seconds, rms=p.rms,
                         clipped_share=p.clipped_share, nonfinite_share=p.nonfinite_share, fingerprint=p.fingerprint)


def _profile_one(path: str, sha256: str, sample_rate: int, cache_root: str, full_scale: float) -> AudioProfile:
    cache = ProfileCache(cache_root, full_scale)
    cached = cache.get(sha256)
    if cached is not None:
        return cached
    profile = profile_file(path, sample_rate, full_scale)
    if profile.decodable:  # an undecodable file is retried next time rather than remembered
        cache.put(sha256, profile)
    return profile


def profile_clips(paths: list[str], sha256s: list[str], sample_rates: list[int], cache_root: str | Path,
                  full_scale: float, workers: int = 1, progress: bool = True) -> list[AudioProfile]:
    """Profiles of many clips, in order: read from the cache, the missing ones computed (in parallel)."""
    cache = ProfileCache(cache_root, full_scale)
    out: list[AudioProfile | None] = [cache.get(s) for s in sha256s]
    todo = [i for i, p in enumerate(out) if p is None]
    jobs = [(paths[i], sha256s[i], int(sample_rates[i]), str(cache_root), full_scale) for i in todo]
    bar = tqdm(total=len(jobs), desc="audio profile", unit="clip", disable=not progress or not jobs)
    if workers > 1 and len(jobs) > 1:
        with ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("forkserver"),
                                 initializer=one_blas_thread) as pool:
            for i, profile in zip(todo, pool.map(_profile_one, *zip(*jobs), chunksize=4)):
                out[i] = profile
                bar.update()
    else:
        for i, job in zip(todo, jobs):
            out[i] = _profile_one(*job)
            bar.update()
    bar.close()
    return cast(list[AudioProfile], out)  # every slot is filled above


def near_duplicates(fingerprints: np.ndarray, chunk: int = 512) -> tuple[np.ndarray, np.ndarray]:
    """For each row, the highest cosine similarity to an *earlier* row and that row's index (-1 for none).

    The first clip of a near-duplicate pair is kept clean; the later one carries the match.
    """
    fps = np.asarray(fingerprints, dtype=np.float32)
    n = len(fps)
    best = np.zeros(n, dtype=np.float64)
    match = np.full(n, -1, dtype=np.int64)
    for start in range(1, n, chunk):
        stop = min(n, start + chunk)
        sims = fps[start:stop] @ fps[:stop].T
        rows = np.arange(start, stop)
        sims[np.arange(stop)[None, :] >= rows[:, None]] = -np.inf
        j = sims.argmax(axis=1)
        best[start:stop] = sims[np.arange(stop - start), j]
        match[start:stop] = j
    return best, match
