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



def _ingest(root: Path, home: Path, labels: Path | None = None):
    store, catalog = BlobStore(home / "store"), Catalog(home / "catalog.sqlite")
    return ingest_folder(root, store, catalog, IngestConfig(), labels_csv=labels, progress=False), catalog


def test_two_datasets_in_folders_of_the_same_name_are_both_ingested(tone, tmp_path: Path) -> None:
    tone("a/music/rock/x.wav", freq=300)
    tone("b/music/rock/x.wav", freq=900)  # same relative path, other audio
    first, catalog = _ingest(tmp_path / "a" / "music", tmp_path / "home")
    second, catalog = _ingest(tmp_path / "b" / "music", tmp_path / "home")
    assert first.by_status["ok"] == 1 and second.by_status["ok"] == 1 and second.skipped == 0
    frame = catalog.frame()
    assert frame["sha256"].nunique() == 2 and frame["source"].nunique() == 2


def test_a_replaced_file_and_a_later_labels_csv_are_applied(tone, tmp_path: Path) -> None:
    root = tmp_path / "music"
    tone("music/rock/x.wav", freq=300)
    tone("music/rock/y.wav", freq=400)
    _ingest(root, tmp_path / "home")
    tone("music/rock/x.wav", freq=800)  # the file is replaced by other audio
    labels = tmp_path / "labels.csv"
    labels.write_text("\ufefffile,label\nrock/y.wav,Blues\nrock/gone.wav,jazz\n", encoding="utf-8")  # as Excel saves
    summary, catalog = _ingest(root, tmp_path / "home", labels)
    frame = catalog.frame().set_index("source_id")
    assert summary.skipped == 0 and summary.by_status["ok"] == 2
    assert frame.loc["rock/y.wav", "label"] == "blues"
    assert frame.loc["rock/x.wav", "sha256"] == __import__("hashlib").sha256(
        (root / "rock" / "x.wav").read_bytes()).hexdigest()
    assert any("rock/gone.wav" in note and "match no file" in note for note in summary.notes), summary.notes
    assert "rock/gone.wav" in str(summary)
    again, _ = _ingest(root, tmp_path / "home", labels)
    assert again.skipped == 2 and not again.by_status  # unchanged content and labels: nothing to do


def test_nested_folders_other_alphabets_and_bad_labels(tone, tmp_path: Path) -> None:
    root = tmp_path / "music"
    tone("music/rock/Album One/CD1/deep.wav", freq=300)
    tone("music/民谣/a.wav", freq=400)
    tone("music/Música Latina/b.wav", freq=500)
    tone("music/!!!/c.wav", freq=600)
    tone("music/loose.wav", freq=700)
    summary, catalog = _ingest(root, tmp_path / "home")
    frame = catalog.frame().set_index("source_id")
    assert frame.loc["rock/Album One/CD1/deep.wav", "label"] == "rock"
    assert frame.loc["民谣/a.wav", "label"] == "民谣"
    assert frame.loc["Música Latina/b.wav", "label"] == "musica-latina"
    assert frame.loc["!!!/c.wav", "status"] == "failed" and "'!!!'" in frame.loc["!!!/c.wav", "reason"]
    assert frame.loc["loose.wav", "status"] == "failed" and "not inside a <genre> folder" in frame.loc["loose.wav",
                                                                                                       "reason"]
    assert dict(summary.by_label) == {"rock": 1, "民谣": 1, "musica-latina": 1}
    stored = {p.name for p in (tmp_path / "home" / "store").rglob("*") if p.is_file()}
    assert set(frame.loc[frame["status"] == "ok", "sha256"]) <= stored  # every stored blob has its row


def test_real_clips_in_album_folders_keep_their_genre(gtzan_mini: Path, tmp_path: Path) -> None:
    root = tmp_path / "library"
    for genre in ("jazz", "metal"):
        for i, clip in enumerate(sorted((gtzan_mini / genre).glob("*.wav"))[:2]):
            target = root / genre.title() / f"Album {i}" / clip.name
            target.parent.mkdir(parents=True)
            target.symlink_to(clip)
    summary, catalog = _ingest(root, tmp_path / "home")
    assert dict(summary.by_label) == {"jazz": 2, "metal": 2}
