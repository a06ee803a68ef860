"""Feature extraction over a catalog: cached per (audio sha256, feature-config hash)."""

from __future__ import annotations


import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from genre.atomic import atomic_path
from genre.audio import AudioError, load
from genre.config import FeatureConfig
from genre.features import ClipFeatures, clip_features, feature_names


class FeatureCache:
    """``root/<config hash>/ab/<sha256>.npz``; entries are immutable once written."""

    def __init__(self, root: str | Path, cfg: FeatureConfig) -> None:
        self.cfg = cfg
        self.dir = Path(root) / cfg.digest()

    def path(self, sha256: str) -> Path:
        return self.dir / sha256[:2] / f"{sha256}.npz"

    def get(self, sha256: str) -> ClipFeatures | None:
        path = self.path(sha256)
        if not path.is_file():
            return None
        with np.load(path) as z:
            return ClipFeatures(features=z["features"], mels=z["mels"])

    def put(self, sha256: str, clip: ClipFeatures) -> None:
        with atomic_path(self.path(sha256), suffix=".npz") as tmp:
            with open(tmp, "wb") as f:
                np.savez(f, features=clip.features, mels=clip.mels)


def compute_one(audio_path: str, sha256: str, cache_root: str, cfg: FeatureConfig) -> tuple[str, str, bool]:
    """Fill the cache for one clip. Returns (sha256, error reason or "", computed?)."""
    cache = FeatureCache(cache_root, cfg)
    if cache.path(sha256).is_file():
        return sha256, "", False
    try:
        y = load(audio_path, cfg.sample_rate)
        clip = clip_features(y, cfg)
        if not np.all(np.isfinite(clip.features)):
            bad = [n for n, ok in zip(feature_names(cfg), np.isfinite(clip.features).all(axis=0)) if not ok]
            raise ValueError(f"features hold NaN or inf in {', '.join(bad[:5])}")
    except (AudioError, ValueError) as exc:
        return sha256, str(exc), False
    cache.put(sha256, clip)
    return sha256, "", True


@dataclass
class FeatureSet:
    """Segment-level table (clip_id, segment, label, features...) and mel images."""

    table: pd.DataFrame
    mels: np.ndarray
    names: list[str]
    failures: dict[str, str] = field(default_factory=dict)
    computed: int = 0

    def features(self) -> np.ndarray:
        return self.table[self.names].to_numpy(dtype=np.float32)


def extract_dataset(
    clips: pd.DataFrame,
    audio_paths: list[str],
    cache_root: str | Path,
    cfg: FeatureConfig,
    workers: int = 1,
    progress: bool = True,
) -> FeatureSet:
    """Compute (or reuse) features for every clip; failed clips are recorded and left out.

    ``clips`` needs columns clip_id, sha256 and label, aligned with ``audio_paths``.
    With ``workers > 1`` clips are spread over a local process pool.
    """
    jobs = list(zip(audio_paths, clips["sha256"]))
    results: list[tuple[str, str, bool]] = []
    bar = tqdm(total=len(jobs), desc="features", unit="clip", disable=not progress)
    if workers > 1 and len(jobs) > 1:
        with ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("forkserver")) as pool:
            futures = [pool.submit(compute_one, p, s, str(cache_root), cfg) for p, s in jobs]
            for fut in futures:
                results.append(fut.result())
                bar.update()
    else:
        for p, s in jobs:
            results.append(compute_one(p, s, str(cache_root), cfg))
            bar.update()
    bar.close()
    failures = {sha: reason for sha, reason, _ in results if reason}
    return assemble(clips, cache_root, cfg, failures, computed=sum(c for *_, c in results))


def assemble(
    clips: pd.DataFrame, cache_root: str | Path, cfg: FeatureConfig, failures: dict[str, str], computed: int = 0
) -> FeatureSet:
    """Read cached clips into one segment table and one mel array."""
    cache = FeatureCache(cache_root, cfg)
    names = feature_names(cfg)
    frames, mels = [], []
    for row in clips.itertuples(index=False):
        if row.sha256 in failures:
            continue
        clip = cache.get(row.sha256)
        if clip is None:
            failures[row.sha256] = "features missing from cache"
            continue
        df = pd.DataFrame(clip.features, columns=names)
        df.insert(0, "label", row.label)
        df.insert(0, "segment", np.arange(len(df)))
        df.insert(0, "clip_id", row.clip_id)
        frames.append(df)
        mels.append(clip.mels)
    if not frames:
        raise ValueError("no clip yielded features; see the failures for reasons")
    table = pd.concat(frames, ignore_index=True)
    return FeatureSet(table=table, mels=np.concatenate(mels), names=names, failures=failures, computed=computed)


