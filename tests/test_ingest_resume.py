"""A killed ingest resumes; two ingests of the same manifest at once leave a sound catalog and store."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from genre.config import load_config
from genre.data.catalog import Catalog
from genre.data.ingest.manifest import ingest_manifest
from genre.data.store import BlobStore, sha256_file
from tests.audio_server import AudioServer, convert
from tests.conftest import ROOT

CHILD = """
import sys
from genre.data.catalog import Catalog
from genre.config import load_config
from genre.data.ingest.manifest import ingest_manifest
from genre.data.store import BlobStore
cfg = load_config(home=sys.argv[2], **{"ingest.parallelism": 2, "ingest.timeout": 5})
summary = ingest_manifest(sys.argv[1], BlobStore(cfg.store_dir), Catalog(cfg.catalog_path), cfg.ingest,
                          cfg.download_dir, progress=False)
print(summary)
"""
GENRES = ["blues", "classical", "country", "disco", "hiphop", "jazz"]


@pytest.fixture(scope="module")
def clips(gtzan_mini: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Twelve real, distinct clips (5 s FLAC)."""
    root = tmp_path_factory.mktemp("clips")
    for genre in GENRES:
        for n in (0, 1):
            convert(gtzan_mini / genre / f"{genre}.0000{n}.wav", root / f"{genre}{n}.flac", seconds=5)
    return root


def _manifest(server: AudioServer, clips: Path, path: Path) -> Path:
    path.write_text("".join(f"{server.url(f.name)},{f.stem[:-1]}\n" for f in sorted(clips.glob("*.flac"))))
    return path


def _child(manifest: Path, home: Path) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, "-c", CHILD, str(manifest), str(home)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _ok_rows(home: Path) -> int:
    db = home / "catalog.sqlite"
    if not db.exists():
        return 0
    try:
        with sqlite3.connect(db, timeout=5) as con:
            return con.execute("SELECT count(*) FROM catalog WHERE status = 'ok'").fetchone()[0]
    except sqlite3.OperationalError:  # the table is not created yet
        return 0


def _temporaries(home: Path) -> list[Path]:
    return [p for p in home.rglob("*") if ".~" in p.name or p.suffix in (".part", ".tmp", ".ytdl")]


def _check_store(home: Path, expected_clips: int) -> None:
    with sqlite3.connect(home / "catalog.sqlite") as con:
        assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    frame = Catalog(home / "catalog.sqlite").frame()
    assert len(frame) == expected_clips and (frame["status"] == "ok").all()
    assert frame["source_id"].is_unique and frame["clip_id"].nunique() == expected_clips
    blobs = [p for p in (home / "store").rglob("*") if p.is_file()]
    assert sorted(p.name for p in blobs) == sorted(frame["sha256"])
    assert all(sha256_file(p) == p.name for p in blobs)
    assert _temporaries(home) == []


def test_killed_ingest_resumes_without_redoing_or_leaving_partial_files(clips: Path, tmp_path: Path) -> None:
    home = tmp_path / "home"
    # ~0.6 s per clip, so the batch is still running when it is killed
    with AudioServer(clips, bandwidth=400_000) as server:
        manifest = _manifest(server, clips, tmp_path / "urls.csv")
        child = _child(manifest, home)
        deadline = time.monotonic() + 60
        while not (_ok_rows(home) >= 3 and list((home / "downloads").glob(".work*"))):
            assert child.poll() is None, f"the ingest ended before it could be killed:\n{child.stdout.read()}"
            assert time.monotonic() < deadline, "the ingest made no progress"
            time.sleep(0.05)
        child.send_signal(signal.SIGKILL)
        child.wait()
        child.stdout.close()
        done_before = Catalog(home / "catalog.sqlite").frame()
        done_urls = list(done_before.loc[done_before["status"] == "ok", "source_id"])
        assert 3 <= len(done_urls) < 12
        assert list((home / "downloads").glob(".work*")), "the kill should leave in-flight work behind"
        hits_before = dict(server.hits)

        cfg = load_config(home=str(home))
        summary = ingest_manifest(manifest, BlobStore(cfg.store_dir), Catalog(cfg.catalog_path), cfg.ingest,
                                  cfg.download_dir, progress=False)
        assert summary.skipped == len(done_urls)
        assert summary.by_status["ok"] == 12 - len(done_urls) and not summary.failures
        for url in done_urls:  # finished items are not downloaded again
            path = "/" + url.rsplit("/", 1)[1]
            assert server.hits[path] == hits_before[path]
    _check_store(home, 12)


def test_two_concurrent_ingests_of_one_manifest(clips: Path, tmp_path: Path) -> None:
    home = tmp_path / "home"
    with AudioServer(clips, bandwidth=2_000_000) as server:
        manifest = _manifest(server, clips, tmp_path / "urls.csv")
        children = [_child(manifest, home), _child(manifest, home)]
        outputs = [c.communicate(timeout=120)[0] for c in children]
    assert [c.returncode for c in children] == [0, 0], outputs
    assert all("failed" not in out for out in outputs), outputs
    _check_store(home, 12)
