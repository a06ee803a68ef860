"""The ``ingest`` flow: a folder, a URL manifest or an AudioSet segment CSV into the store and the catalog.

Downloads retry inside the library (per item, with backoff); a batch still left with network
failures raises :class:`NetworkFailures`, which alone makes Prefect retry the task. The retry
skips what is done, so only those items are fetched again. A 404 or a file that is not audio
never triggers a retry.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from prefect import Task, flow, task
from prefect.artifacts import create_markdown_artifact
from prefect.client.schemas.objects import TaskRun
from prefect.states import State

from flows.timing import TIMEOUTS
from genre.config import Config, IngestSettings
from genre.data.catalog import Catalog
from genre.data.ingest import IngestSummary, ingest_audioset, ingest_folder, ingest_manifest, source_kind
from genre.data.store import BlobStore


class NetworkFailures(RuntimeError):
    """Some items failed on network errors (timeouts, 5xx, cut transfers) even after per-item retries."""

    def __init__(self, summary: IngestSummary) -> None:
        names = ", ".join(summary.network_failures[:5])
        super().__init__(f"{len(summary.network_failures)} items failed on network errors: {names}")
        self.summary = summary


def network_only(task: Task, task_run: TaskRun, state: State) -> bool:
    """Prefect retry condition: retry a download batch only for network failures."""
    return isinstance(state.result(raise_on_failure=False), NetworkFailures)


@task(name="ingest-folder")
def folder_task(root: Path, labels: str | None, cfg: Config) -> IngestSummary:
    return ingest_folder(root, BlobStore(cfg.store_dir), Catalog(cfg.catalog_path), cfg.ingest, labels_csv=labels)


@task(name="download", retry_condition_fn=network_only)
def download_task(path: Path, kind: str, index: str | None, per_genre: int | None, cfg: Config) -> IngestSummary:
    store, catalog = BlobStore(cfg.store_dir), Catalog(cfg.catalog_path)
    if kind == "manifest":
        summary = ingest_manifest(path, store, catalog, cfg.ingest, cfg.download_dir)
    else:
        summary, mapping = ingest_audioset(path, store, catalog, cfg.ingest, cfg.audioset, cfg.download_dir,
                                           index_csv=index, per_genre=per_genre)
        print(f"AudioSet {path.name}: {mapping}")
    if summary.network_failures:
        print(f"{len(summary.network_failures)} items failed on network errors")
        raise NetworkFailures(summary)
    return summary


@flow(name="ingest", log_prints=True, timeout_seconds=TIMEOUTS["ingest"])
def ingest(source: str, kind: Literal["auto", "folder", "manifest", "audioset"] = "auto",
           labels: str | None = None, index: str | None = None, per_genre: int | None = None,
           config: str | None = None, home: str | None = None, settings: IngestSettings = IngestSettings(),
           cfg: Config | None = None) -> IngestSummary:
    """Ingest ``source``: a ``<root>/<genre>/<clip>`` folder, a ``url,label[,start,end]`` manifest CSV or an
    AudioSet segment CSV (``kind="auto"`` tells them apart).

    ``labels`` is a ``file,label`` CSV overriding folder names; ``index`` is AudioSet's label index
    (default: ``class_labels_indices.csv`` beside the segment CSV); ``per_genre`` caps AudioSet segments per
    genre; ``settings`` sets the ``ingest`` and ``audioset`` config sections (parallelism, timeouts, retries...);
    ``cfg``, when a parent flow passes its config, replaces ``config``, ``home`` and ``settings``.
    """
    cfg = cfg or settings.config(config, home)
    path = Path(source)
    kind = source_kind(path) if kind == "auto" else kind
    if kind == "folder":
        summary = folder_task(path, labels, cfg)
    else:
        fetch = download_task.with_options(retries=cfg.ingest.flow_retries,
                                           retry_delay_seconds=cfg.ingest.flow_retry_delay)
        outcome = fetch(path, kind, index, per_genre, cfg, return_state=True).result(raise_on_failure=False)
        if isinstance(outcome, NetworkFailures):
            summary = outcome.summary
            print(f"still failing after {cfg.ingest.flow_retries} retries of the batch; they stay 'failed' in "
                  "the catalog and the next run tries them again")
        elif isinstance(outcome, BaseException):
            raise outcome
        else:
            summary = outcome
    print(summary)
    create_markdown_artifact(key="genre-ingest", markdown=summary.markdown(), description="ingest summary")
    return summary
