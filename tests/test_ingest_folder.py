"""Folder ingestion: every supported format, label rules, bad files as failed rows, orphans swept."""

from __future__ import annotations

import os
from pathlib import Path

import soundfile as sf

from genre.atomic import owner_tag
from genre.config import IngestConfig
from genre.data.catalog import Catalog
from genre.data.ingest import ingest_folder
from genre.data.store import BlobStore
from tests.audio_server import convert


def test_folder_formats_labels_and_failures(tone, tmp_path: Path) -> None:
    root = tmp_path / "music"
    for i, ext in enumerate(["wav", "flac", "mp3", "ogg"]):
        tone(f"music/Hip Hop/a{i}.{ext}", freq=200 + 50 * i)
    wav = tone("music/rock/r.wav", freq=700)
    convert(wav, root / "rock" / "r.m4a")
    convert(wav, root / "rock" / "r.webm")
    sf.write(root / "rock" / "r.au", sf.read(wav)[0], 22050, format="AU", subtype="PCM_16")
    (root / "rock" / "notes.txt").write_text("not audio")
    (root / "rock" / "broken.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEgarbage")
    labels = tmp_path / "labels.csv"
    labels.write_text("file,label\nrock/r.m4a,Jazz Fusion\n")
    store, catalog = BlobStore(tmp_path / "store"), Catalog(tmp_path / "catalog.sqlite")
    orphan = store.root / "ab" / f".{'ab' * 32}{owner_tag().replace(str(os.getpid()), '999999999')}x.tmp"
    orphan.parent.mkdir(parents=True)
    orphan.write_bytes(b"half a file from a killed run")
    in_flight = orphan.with_name(f".{'ab' * 32}{owner_tag()}y.tmp")  # this process is alive: kept
    in_flight.write_bytes(b"a concurrent writer's file")

    summary = ingest_folder(root, store, catalog, IngestConfig(), labels_csv=labels, progress=False)
    frame = catalog.frame().set_index("source_id")
    assert dict(summary.by_label) == {"hip-hop": 4, "rock": 3, "jazz-fusion": 1}
    assert frame.loc["rock/r.m4a", "label"] == "jazz-fusion"
    assert frame.loc["rock/r.webm", "status"] == "ok" and frame.loc["rock/r.au", "status"] == "ok"
    assert "unsupported file type .txt" in frame.loc["rock/notes.txt", "reason"]
    assert frame.loc["rock/broken.wav", "status"] == "failed"
    assert "broken.wav" in frame.loc["rock/broken.wav", "reason"]
    assert not orphan.exists() and in_flight.exists()
    again = ingest_folder(root, store, catalog, IngestConfig(), labels_csv=labels, progress=False)
    assert again.skipped == 8 and again.by_status["failed"] == 2 and len(catalog.frame()) == 10

