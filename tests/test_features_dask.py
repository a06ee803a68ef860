"""The features flow and the classical searches on a real Dask cluster (scheduler and two workers as subprocesses
on 127.0.0.1).

The same ``features-chunk`` Prefect tasks run on the cluster through prefect-dask's DaskTaskRunner
and must give the same table and mel images as the library's local run; the searches' fits run there through
joblib's Dask backend and must choose what local processes choose.
"""

from __future__ import annotations

import os
import shutil
import signal
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from flows.cli import parser
from flows.features import run_features, task_runner
from genre.config import load_config
from genre.data.catalog import Catalog, clips
from genre.data.ingest import ingest_folder
from genre.data.store import BlobStore
from genre.features.dataset import extract_dataset
from genre.models.train import train_classical
from tests.conftest import ROOT, write_tone
from tests.servers import BIN, free_port, start, stop
from tests.test_classical_models import segments


@pytest.fixture(scope="module")
def cluster(prefect_api, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``dask scheduler`` + ``dask worker --nworkers 2``, reporting to the session's Prefect API."""
    from distributed import Client
    from prefect.settings import get_current_settings

    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
           "PREFECT_API_URL": str(get_current_settings().api.url)}
    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    logs = tmp_path_factory.mktemp("dask")
    procs = [start([str(BIN / "dask"), "scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"],
                   env, logs / "scheduler.log")]
    try:
        procs.append(start([str(BIN / "dask"), "worker", address, "--nworkers", "2", "--nthreads", "1",
                            "--no-dashboard", "--local-directory", str(logs)], env, logs / "workers.log", cwd=logs))
        with Client(address, timeout=60) as client:
            client.wait_for_workers(2, timeout=120)
        yield address
    finally:
        for proc in reversed(procs):
            stop(proc, signal.SIGTERM)


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A genre home with four generated clips of two genres ingested."""
    root = tmp_path_factory.mktemp("features-dask")
    for i, (genre, freq) in enumerate([("low", 110.0), ("low", 165.0), ("high", 880.0), ("high", 1320.0)]):
        write_tone(root / "data" / genre / f"{genre}{i}.wav", freq=freq, seconds=4.5, seed=i)
    cfg = load_config(home=str(root / "home"))
    ingest_folder(root / "data", BlobStore(cfg.store_dir), Catalog(cfg.catalog_path), cfg.ingest)
    return root / "home"


def _sorted(table: pd.DataFrame) -> pd.DataFrame:
    return table.sort_values(["clip_id", "segment"]).reset_index(drop=True)


def test_dask_cluster_gives_the_local_table(cluster: str, home: Path) -> None:
    from distributed import Client

    cfg = load_config(home=str(home), workers=2, dask_address=cluster)
    table = clips(Catalog(cfg.catalog_path).frame())
    store = BlobStore(cfg.store_dir)
    local = extract_dataset(table, [store.path(s) for s in table["sha256"]], home.parent / "local-cache",
                            cfg.features, workers=1, progress=False)
    with Client(cluster) as client:
        before = sum(client.run(lambda dask_worker: dask_worker.state.executed_count).values())
        fs, kept = run_features(cfg)
        executed = sum(client.run(lambda dask_worker: dask_worker.state.executed_count).values())
    assert executed - before >= 2, "the feature tasks did not run on the Dask workers"
    assert fs.stats.decoded == 4 and not fs.failures and len(kept) == 4
    assert fs.stats.embeddings == 4 and len(fs.embeddings) == len(fs.table)  # pretrained member: same tasks
    order = np.lexsort((local.table["segment"], local.table["clip_id"]))
    remote_order = np.lexsort((fs.table["segment"], fs.table["clip_id"]))
    # equal up to float rounding: BLAS on the workers (one thread each) sums in another order
    pd.testing.assert_frame_equal(_sorted(fs.table), _sorted(local.table), check_exact=False, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(np.asarray(fs.mels)[remote_order], local.mels[order], atol=0.05)  # float16 dB
    # a rerun on the cluster is all cache hits: no task is even submitted
    again, _ = run_features(cfg)
    assert again.stats.decoded == 0 and again.stats.cached == 4


def test_classical_searches_run_on_the_cluster(cluster: str, tmp_path: Path) -> None:
    from distributed import Client

    def executed(client: Client) -> int:
        return sum(client.run(lambda dask_worker: dask_worker.state.executed_count).values())

    train, val = segments(18, 3, 3, seed=1, prefix="tr"), segments(9, 3, 3, seed=2, prefix="va")
    settings = {"workers": 2, "classical.models": ["logreg", "random_forest"], "classical.search_iterations": 3,
                "classical.cv_folds": 2}
    with Client(cluster) as client:
        before = executed(client)
        remote = train_classical(train, val, load_config(home=str(tmp_path), dask_address=cluster, **settings),
                                 progress=False)
        ran = executed(client) - before
    local = train_classical(train, val, load_config(home=str(tmp_path), **settings), progress=False)
    assert ran >= 2, "the searches did not run on the Dask workers"
    assert remote.best == local.best
    for name in ("logreg", "random_forest"):
        a, b = remote.fitted[name], local.fitted[name]
        assert a.params == b.params and a.cv_roc_auc == pytest.approx(b.cv_roc_auc, abs=1e-9)
        np.testing.assert_allclose(a.model.predict_proba(val.X), b.model.predict_proba(val.X), atol=1e-9)


def test_temporary_local_cluster_gives_the_local_table(prefect_api, home: Path, tmp_path: Path) -> None:
    fresh = tmp_path / "home"
    shutil.copytree(home, fresh, ignore=shutil.ignore_patterns("features", "feature-sets"))  # no cache
    cfg = load_config(home=str(fresh), workers=2, dask_local=True)
    fs, kept = run_features(cfg)
    assert fs.stats.decoded == 4 and not fs.failures and len(kept) == 4
    table = clips(Catalog(cfg.catalog_path).frame())
    store = BlobStore(cfg.store_dir)
    local = extract_dataset(table, [store.path(s) for s in table["sha256"]], tmp_path / "local-cache",
                            cfg.features, workers=1, progress=False)
    pd.testing.assert_frame_equal(_sorted(fs.table), _sorted(local.table), check_exact=False, rtol=1e-4, atol=1e-5)


def test_unreachable_scheduler_fails_fast_with_advice() -> None:
    cfg = load_config(dask_address=f"tcp://127.0.0.1:{free_port()}")
    with pytest.raises(ConnectionError, match="no Dask scheduler answers at .*`dask scheduler"):
        task_runner(cfg)


def test_cli_takes_a_dask_address() -> None:
    args = parser().parse_args(["run", "--dask-address", "tcp://10.0.0.5:8786"])
    assert args.dask_address == "tcp://10.0.0.5:8786" and not args.dask_local
    with pytest.raises(SystemExit):
        parser().parse_args(["run", "--dask-address", "tcp://10.0.0.5:8786", "--dask-local"])


def test_executor_follows_the_config() -> None:
    from prefect.task_runners import ProcessPoolTaskRunner
    from prefect_dask import DaskTaskRunner
    from pydantic import ValidationError

    assert isinstance(task_runner(load_config(workers=3)), ProcessPoolTaskRunner)
    assert isinstance(task_runner(load_config(dask_local=True)), DaskTaskRunner)
    with pytest.raises(ValidationError, match="dask_address"):
        load_config(dask_address="10.0.0.5:8786")  # the scheme is required
    with pytest.raises(ValidationError, match="not both"):
        load_config(dask_address="tcp://10.0.0.5:8786", dask_local=True)
