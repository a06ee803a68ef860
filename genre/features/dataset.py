"""Feature extraction over a catalog, cached per (audio sha256, output, hash of the config fields it uses).

The outputs are the handcrafted features, the mel images and, with a pretrained checkpoint configured, the
pretrained network's embeddings of one layer (one row per segment, keyed by checkpoint and layer too); all come
from the same decode of the clip, in the same job.

The work is split so a Prefect flow can spread it over any executor: :func:`plan` lists the
clips whose outputs are not cached yet, :func:`compute_one` fills the cache for one clip
(decoding it alone, so memory holds one clip at a time), and :func:`assemble` streams the
cached clips into a Parquet table and one ``.npy`` mel array, both written atomically.
:func:`extract_dataset` chains the three over a local process pool.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
from collections.abc import Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from genre.atomic import atomic_path, write_json
from genre.config import FeatureConfig, PretrainedConfig
from genre.data.audio import AudioError, load
from genre.features.extractor import analyse, feature_keys, feature_names, segment_features, segment_mels
from genre.threads import one_blas_thread, one_blas_thread_inside

TABLE_FILE = "features.parquet"
MELS_FILE = "mels.npy"
EMBEDDINGS_FILE = "embeddings.npy"
FAILURES_FILE = "failures.json"


class FeatureCache:
    """``root/<output>-<key>/ab/<sha256>.npy`` for each output; entries are immutable once written.

    With ``pretrained`` (a checkpoint, not "none") the embeddings are an output too, in
    ``root/embeddings-<checkpoint>-<layer>-<key>/``.
    """

    def __init__(self, root: str | Path, cfg: FeatureConfig, pretrained: PretrainedConfig | None = None) -> None:
        self.root = Path(root)
        self.cfg = cfg
        self.pretrained = pretrained if pretrained is not None and pretrained.checkpoint != "none" else None
        self.keys = feature_keys(cfg)
        if self.pretrained is not None:
            from genre.features.pretrained import embeddings_key

            self.keys["embeddings"] = embeddings_key(cfg, self.pretrained)

    def path(self, output: str, sha256: str) -> Path:
        return self.root / f"{output}-{self.keys[output]}" / sha256[:2] / f"{sha256}.npy"

    def missing(self, sha256: str) -> tuple[str, ...]:
        """The outputs of this clip not in the cache yet."""
        return tuple(out for out in self.keys if not self.path(out, sha256).is_file())

    def get(self, output: str, sha256: str, mmap: bool = False) -> np.ndarray:
        return np.load(self.path(output, sha256), mmap_mode="r" if mmap else None)

    def put(self, output: str, sha256: str, array: np.ndarray) -> None:
        with atomic_path(self.path(output, sha256), suffix=".npy") as tmp:
            np.save(tmp, array)


@dataclass(frozen=True)
class Job:
    """One clip to (re)compute: its id, audio file (absolute path) and content hash."""

    clip_id: str
    audio_path: str
    sha256: str


@dataclass(frozen=True)
class Outcome:
    """What :func:`compute_one` did for a clip: the outputs it computed, or why it failed."""

    clip_id: str
    sha256: str
    computed: tuple[str, ...] = ()
    reason: str = ""


@dataclass
class ExtractStats:
    """Counts of one extraction: the cache hits and the real computations (decode + STFT, per output)."""

    clips: int = 0
    cached: int = 0
    decoded: int = 0
    features: int = 0
    mels: int = 0
    failed: int = 0
    embeddings: int = 0  # clips whose pretrained embeddings were computed

    @classmethod
    def of(cls, n_clips: int, outcomes: Iterable[Outcome]) -> ExtractStats:
        stats = cls(clips=n_clips)
        outcomes = list(outcomes)
        for o in outcomes:
            stats.failed += bool(o.reason)
            stats.decoded += bool(o.computed)
            stats.features += "features" in o.computed
            stats.mels += "mels" in o.computed
            stats.embeddings += "embeddings" in o.computed
        stats.cached = n_clips - len(outcomes)
        return stats

    def line(self) -> str:
        return (f"{self.clips} clips: {self.cached} fully cached, {self.decoded} decoded "
                f"({self.features} feature sets, {self.mels} mel sets and {self.embeddings} embedding sets "
                f"computed), {self.failed} failed")


def plan(clips: pd.DataFrame, audio_paths: Sequence[str | Path], cache: FeatureCache) -> list[Job]:
    """Jobs for the clips with an output missing from the cache, audio paths made absolute for remote workers."""
    return [Job(str(cid), str(Path(p).resolve()), sha)
            for cid, sha, p in zip(clips["clip_id"], clips["sha256"], audio_paths) if cache.missing(sha)]


_ERRORS = (AudioError, ValueError, RuntimeError, OSError)  # FeatureError is a ValueError


def compute_one(job: Job, cache_root: str | Path, cfg: FeatureConfig,
                pretrained: PretrainedConfig | None = None) -> Outcome:
    """Decode one clip and fill its missing cache entries; a bad clip comes back as a reason, never raises."""
    cache = FeatureCache(cache_root, cfg, pretrained)
    todo = cache.missing(job.sha256)
    if not todo:
        return Outcome(job.clip_id, job.sha256)
    try:
        y = load(job.audio_path, cfg.sample_rate)
        arrays = {}
        if "features" in todo or "mels" in todo:
            sp = analyse(y, cfg)
            if "features" in todo:
                arrays["features"] = _checked(segment_features(sp), cfg)
            if "mels" in todo:
                arrays["mels"] = segment_mels(sp)
        if "embeddings" in todo:
            from genre.features.pretrained import segment_embeddings

            arrays["embeddings"] = segment_embeddings(y, cfg, cache.pretrained)
    except _ERRORS as exc:
        return Outcome(job.clip_id, job.sha256, reason=f"{job.clip_id} ({job.audio_path}): {exc}")
    for output, array in arrays.items():
        cache.put(output, job.sha256, array)
    return Outcome(job.clip_id, job.sha256, computed=tuple(arrays))


def compute_many(jobs: Sequence[Job], cache_root: str | Path, cfg: FeatureConfig,
                 pretrained: PretrainedConfig | None = None) -> list[Outcome]:
    """:func:`compute_one` over a chunk of jobs, one clip in memory at a time (BLAS at one thread meanwhile)."""
    with one_blas_thread_inside():
        return [compute_one(job, cache_root, cfg, pretrained) for job in jobs]


def _checked(features: np.ndarray, cfg: FeatureConfig) -> np.ndarray:
    finite = np.isfinite(features).all(axis=0)
    if not finite.all():
        bad = [n for n, ok in zip(feature_names(cfg), finite) if not ok]
        raise ValueError(f"features hold NaN or inf in {', '.join(bad[:5])}"
                         f"{' and more' if len(bad) > 5 else ''} (silent or constant audio?)")
    return features


@dataclass
class FeatureSet:
    """Segment-level table (clip_id, segment, label, features...) and mel images, row i <-> image i; with a
    pretrained checkpoint, ``embeddings`` row i too (else None)."""

    table: pd.DataFrame
    mels: np.ndarray
    names: list[str]
    failures: dict[str, str] = field(default_factory=dict)
    stats: ExtractStats = field(default_factory=ExtractStats)
    folder: Path | None = None
    embeddings: np.ndarray | None = None

    def features(self) -> np.ndarray:
        return self.table[self.names].to_numpy(dtype=np.float32)


def extract_dataset(
    clips: pd.DataFrame,
    audio_paths: Sequence[str | Path],
    cache_root: str | Path,
    cfg: FeatureConfig,
    workers: int = 1,
    progress: bool = True,
    out_root: str | Path | None = None,
    pretrained: PretrainedConfig | None = None,
) -> FeatureSet:
    """Compute (or reuse) features for every clip; failed clips are recorded with reasons and left out.

    ``clips`` needs columns clip_id, sha256 and label, aligned with ``audio_paths``. With
    ``workers > 1`` clips are spread over a local process pool. With ``out_root`` the table
    and mel array are written there (see :func:`assemble`) and the mels are memory-mapped.
    With ``pretrained`` the embeddings of its checkpoint and layer are computed (or reused) too.
    """
    cache_root = Path(cache_root).resolve()
    cache = FeatureCache(cache_root, cfg, pretrained)
    jobs = plan(clips, audio_paths, cache)
    outcomes: list[Outcome] = []
    with tqdm(total=len(jobs), desc="features", unit="clip", disable=not progress or not jobs) as bar:
        if workers > 1 and len(jobs) > 1:
            ctx = multiprocessing.get_context("forkserver")
            with ProcessPoolExecutor(max_workers=min(workers, len(jobs)), mp_context=ctx,
                                     initializer=one_blas_thread) as pool:
                futures = [pool.submit(compute_one, job, cache_root, cfg, pretrained) for job in jobs]
                for fut in as_completed(futures):
                    outcomes.append(fut.result())
                    bar.update()
        else:
            with one_blas_thread_inside():
                for job in jobs:
                    outcomes.append(compute_one(job, cache_root, cfg, pretrained))
                    bar.update()
    return assemble(clips, cache, outcomes, out_root)


def dataset_key(clips: pd.DataFrame, cache: FeatureCache) -> str:
    """Hash of the output keys and the (clip_id, sha256, label) rows: names an assembled dataset."""
    rows = clips[["clip_id", "sha256", "label"]].astype(str).to_numpy().tolist()
    blob = json.dumps({"keys": cache.keys, "rows": rows})
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def assemble(
    clips: pd.DataFrame, cache: FeatureCache, outcomes: Iterable[Outcome] = (), out_root: str | Path | None = None
) -> FeatureSet:
    """Read the cached clips into one segment table and one mel array.

    Clips that failed (``outcomes`` with a reason) are left out and listed in ``failures``.
    With ``out_root``, the result lives in ``out_root/<dataset key>/`` as ``features.parquet``
    and ``mels.npy``, written atomically; mels are streamed clip by clip into the file and
    memory-mapped back, and a folder already assembled for the same inputs is reused as is.
    """
    outcomes = list(outcomes)
    failures = {o.clip_id: o.reason for o in outcomes if o.reason}
    for cid, sha in zip(clips["clip_id"].astype(str), clips["sha256"]):
        if cid not in failures and cache.missing(sha):
            failures[cid] = f"{cid}: {' and '.join(cache.missing(sha))} missing from the cache (not computed)"
    stats = ExtractStats.of(len(clips), outcomes)
    names = feature_names(cache.cfg)
    good = clips[~clips["clip_id"].astype(str).isin(failures)].reset_index(drop=True)
    if good.empty:
        raise ValueError(f"no clip yielded features ({len(failures)} failed); reasons: "
                         + "; ".join(list(failures.values())[:3]))
    folder = Path(out_root) / dataset_key(good, cache) if out_root is not None else None
    if folder is not None and (folder / TABLE_FILE).is_file() and (folder / MELS_FILE).is_file():
        table = pd.read_parquet(folder / TABLE_FILE)
    else:
        frames = []
        for row in good.itertuples(index=False):
            df = pd.DataFrame(cache.get("features", row.sha256), columns=names)
            df.insert(0, "label", row.label)
            df.insert(0, "segment", np.arange(len(df), dtype=np.int32))
            df.insert(0, "clip_id", str(row.clip_id))
            frames.append(df)
        table = pd.concat(frames, ignore_index=True)
        if folder is None:
            mels = np.concatenate([cache.get("mels", sha) for sha in good["sha256"]])
            return FeatureSet(table, mels, names, failures, stats, embeddings=_embeddings(good, cache, len(table)))
        _write_mels(folder / MELS_FILE, [cache.path("mels", sha) for sha in good["sha256"]], len(table))
        with atomic_path(folder / TABLE_FILE, suffix=".parquet") as tmp:
            table.to_parquet(tmp, index=False)
    embeddings = None
    if cache.pretrained is not None:
        if not (folder / EMBEDDINGS_FILE).is_file():
            with atomic_path(folder / EMBEDDINGS_FILE, suffix=".npy") as tmp:
                np.save(tmp, _embeddings(good, cache, len(table)))
        embeddings = np.load(folder / EMBEDDINGS_FILE)
    write_json(folder / FAILURES_FILE, failures)
    mels = np.load(folder / MELS_FILE, mmap_mode="r")
    return FeatureSet(table, mels, names, failures, stats, folder, embeddings)


def _embeddings(good: pd.DataFrame, cache: FeatureCache, n_rows: int) -> np.ndarray | None:
    """The cached embeddings of ``good``'s clips stacked like the table's rows (None without a checkpoint)."""
    if cache.pretrained is None:
        return None
    parts = [cache.get("embeddings", sha) for sha in good["sha256"]]
    for sha, part in zip(good["sha256"], parts):
        if len(part) != len(cache.get("features", sha, mmap=True)):
            raise ValueError(f"embeddings of {sha} have {len(part)} rows but its features have another count")
    out = np.concatenate(parts)
    if len(out) != n_rows:
        raise ValueError(f"embeddings hold {len(out)} segments but the table has {n_rows}")
    return out


def _write_mels(target: Path, parts: list[Path], n_rows: int) -> None:
    """Concatenate per-clip ``.npy`` arrays into one ``.npy`` file, one clip in memory at a time."""
    first = np.load(parts[0], mmap_mode="r")
    shape = (n_rows, *first.shape[1:])
    with atomic_path(target, suffix=".npy") as tmp, open(tmp, "wb") as f:
        np.lib.format.write_array_header_1_0(f, {"descr": np.lib.format.dtype_to_descr(first.dtype),
                                                 "fortran_order": False, "shape": shape})
        written = 0
        for part in parts:
            block = np.load(part, mmap_mode="r")
            if block.shape[1:] != shape[1:] or block.dtype != first.dtype:
                raise ValueError(f"cached mel array {part} has shape {block.shape}, expected (*, {shape[1:]})")
            f.write(np.ascontiguousarray(block).tobytes())
            written += len(block)
        if written != n_rows:
            raise ValueError(f"mel arrays hold {written} segments but the table has {n_rows}")
