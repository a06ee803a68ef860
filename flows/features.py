"""The ``genre-features`` flow: cached feature extraction as mapped Prefect tasks on a chosen executor.

The same ``features-chunk`` tasks run on a local process pool (default, ``workers`` processes),
on an existing Dask cluster (``dask_address``) or on a temporary local Dask cluster
(``dask_local``) through prefect-dask's DaskTaskRunner. Dask workers must be able to import
``genre`` and to read and write the same ``GENRE_HOME`` (a shared filesystem).
"""

from __future__ import annotations

import math
import os
import socket
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pandas as pd
from prefect import flow, task, unmapped
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE
from prefect.futures import as_completed
from prefect.settings import get_current_settings
from prefect.task_runners import ProcessPoolTaskRunner, TaskRunner
from tqdm.auto import tqdm

from flows.timing import TIMEOUTS
from genre.config import Config, FeatureConfig, PretrainedConfig
from genre.data.catalog import Catalog, clips
from genre.data.store import BlobStore
from genre.features.dataset import FeatureCache, FeatureSet, Job, Outcome, assemble, compute_many, plan
from genre.features.pretrained import unavailable

CHUNK_MAX = 16  # clips per task: small enough for a live progress bar, large enough to hide task overhead


def check_scheduler(address: str, timeout: float = 5.0) -> None:
    """Fail fast, with what to do, when no Dask scheduler answers at ``address``."""
    parts = urlsplit(address)
    try:
        socket.create_connection((parts.hostname, parts.port), timeout=timeout).close()
    except OSError as exc:
        raise ConnectionError(
            f"no Dask scheduler answers at {address} ({exc}). Start one (`dask scheduler --host HOST` and "
            f"`dask worker {address}`), or run without --dask-address to use the local process pool."
        ) from exc


def task_runner(cfg: Config) -> TaskRunner:
    """The executor the config asks for: existing Dask cluster, temporary local Dask cluster or process pool."""
    if cfg.dask_address:
        from prefect_dask import DaskTaskRunner

        check_scheduler(cfg.dask_address)
        return DaskTaskRunner(address=cfg.dask_address)
    if cfg.dask_local:
        from prefect_dask import DaskTaskRunner

        return DaskTaskRunner(cluster_kwargs={"n_workers": cfg.workers, "threads_per_worker": 1,
                                              "processes": True, "dashboard_address": None})
    return ProcessPoolTaskRunner(max_workers=cfg.workers)


def chunks(jobs: list[Job], workers: int) -> list[list[Job]]:
    """About four chunks per worker, at most CHUNK_MAX clips each."""
    size = max(1, min(CHUNK_MAX, math.ceil(len(jobs) / (4 * workers))))
    return [jobs[i:i + size] for i in range(0, len(jobs), size)]


@task(name="features-chunk", cache_policy=NO_CACHE, retries=1, retry_delay_seconds=2)
def features_chunk(jobs: list[Job], cache_root: str, cfg: FeatureConfig,
                   pretrained: PretrainedConfig | None = None) -> list[Outcome]:
    """Fill the feature cache (and the pretrained embeddings) for a chunk of clips; bad clips come back with
    reasons."""
    return compute_many(jobs, cache_root, cfg, pretrained)


@flow(name="genre-features", log_prints=True, timeout_seconds=TIMEOUTS["features"])
def features_flow(cfg: Config) -> tuple[FeatureSet, pd.DataFrame]:
    """Features and mel images of every catalogued clip, computed where missing from the cache.

    Returns the feature set (table in Parquet and mel array under ``cfg.feature_sets``) and the
    catalog rows of the clips that made it. With a usable ``pretrained`` checkpoint its embeddings are
    computed in the same tasks; otherwise the run goes on without them and says why, once.
    """
    table = clips(Catalog(cfg.catalog_path).frame())
    if cfg.genres:
        table = table[table["label"].isin(cfg.genres)].reset_index(drop=True)
    store = BlobStore(cfg.store_dir)
    cache_root = str(Path(cfg.feature_cache).resolve())
    off = unavailable(cfg.pretrained)
    if off:
        print(f"pretrained member off: {off}")
    pretrained = None if off else cfg.pretrained
    cache = FeatureCache(cache_root, cfg.features, pretrained)
    jobs = plan(table, [store.path(s) for s in table["sha256"]], cache)
    outcomes: list[Outcome] = []
    if jobs:
        futures = features_chunk.map(chunks(jobs, cfg.workers), unmapped(cache_root), unmapped(cfg.features),
                                     unmapped(pretrained))
        with tqdm(total=len(jobs), desc="features", unit="clip") as bar:
            for fut in as_completed(futures):
                done = fut.result()
                outcomes += done
                bar.update(len(done))
    fs = assemble(table, cache, outcomes, cfg.feature_sets)
    _report(fs)
    return fs, table[~table["clip_id"].astype(str).isin(fs.failures)].reset_index(drop=True)


def _report(fs: FeatureSet) -> None:
    for reason in fs.failures.values():
        print(f"features skipped {reason}")
    summary = (f"{fs.stats.line()}. Table: {fs.table['clip_id'].nunique()} clips, {len(fs.table)} segments, "
               f"{len(fs.names)} features; mels {tuple(fs.mels.shape)}"
               + (f"; embeddings {tuple(fs.embeddings.shape)}" if fs.embeddings is not None else "")
               + f" in `{fs.folder}`")
    print(summary)
    create_markdown_artifact(key="genre-features", markdown=f"# Features\n\n{summary}\n",
                             description="feature extraction summary")
    if fs.failures:
        rows: list[dict[str, Any]] = [{"clip": k, "reason": v} for k, v in fs.failures.items()]
        create_table_artifact(key="genre-feature-failures", table=rows, description="clips skipped, with reasons")


def share_api_url() -> None:
    """Point worker processes started from here at this process's Prefect API.

    Without a configured ``PREFECT_API_URL`` Prefect runs a temporary server per process, and
    every pool or local-Dask worker would start its own (10 s or more each, and on a busy
    machine they time out). Starting this process's one first and exporting its address
    lets the workers report to it instead.
    """
    if os.environ.get("PREFECT_API_URL") or get_current_settings().api.url:
        return
    from prefect.server.api.server import SubprocessASGIServer

    server = SubprocessASGIServer()  # the same instance Prefect's client uses in this process
    server.start()
    os.environ["PREFECT_API_URL"] = server.api_url


def run_features(cfg: Config) -> tuple[FeatureSet, pd.DataFrame]:
    """Run :func:`features_flow` on the executor the config names."""
    share_api_url()
    return features_flow.with_options(task_runner=task_runner(cfg))(cfg)
