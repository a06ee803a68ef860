"""Manifest ingestion through yt-dlp itself, against a local server holding real GTZAN clips."""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

import pytest
import soundfile as sf

from genre.config import IngestConfig, load_config
from genre.data.audio import ffmpeg_exe
from genre.data.catalog import Catalog
from genre.data.ingest.manifest import ingest_manifest, make_item, read_manifest, youtube_id
from genre.data.store import BlobStore, sha256_file
from tests.audio_server import AudioServer, convert


@pytest.fixture(scope="module")
def www(gtzan_mini: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Real clips in four formats (6 s each), a mirror copy, broken files, a page and a video without audio."""
    root = tmp_path_factory.mktemp("www")
    convert(gtzan_mini / "blues" / "blues.00000.wav", root / "blues.mp3", seconds=6)
    convert(gtzan_mini / "rock" / "rock.00000.wav", root / "rock.flac", seconds=6)
    convert(gtzan_mini / "jazz" / "jazz.00000.wav", root / "jazz.ogg", seconds=6)
    convert(gtzan_mini / "pop" / "pop.00000.wav", root / "pop.m4a", seconds=6)
    (root / "mirror").mkdir()
    shutil.copy(root / "rock.flac", root / "mirror" / "rock-copy.flac")
    (root / "cut.m4a").write_bytes((root / "pop.m4a").read_bytes()[:4000])  # truncated at the source
    (root / "fake.mp3").write_text("this is text, not audio\n" * 50)
    (root / "page.html").write_text("<html><body><p>no media here</p></body></html>")
    subprocess.run([ffmpeg_exe(), "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc=size=32x32:rate=5", "-t", "1",
                    "-c:v", "mpeg4", str(root / "silent-video.mp4")], check=True)
    return root


@pytest.fixture
def server(www: Path):
    with AudioServer(www, stall_seconds=6) as srv:
        yield srv


def _config(home: Path, **ingest):
    values = {"ingest.timeout": 1, "ingest.retries": 1, "ingest.backoff": 0.05, "ingest.parallelism": 4}
    values.update({f"ingest.{k}": v for k, v in ingest.items()})
    return load_config(home=str(home), **values)


def _temporaries(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.name.startswith(".") or p.suffix in (".part", ".tmp", ".ytdl")]


def test_manifest_formats_failures_and_rerun(server: AudioServer, tmp_path: Path) -> None:
    u = server.url
    manifest = tmp_path / "songs.csv"
    manifest.write_text("\n".join([
        "url,label,start,end",
        f"{u('blues.mp3')},Blues",
        f"{u('rock.flac')},Rock",
        f"{u('jazz.ogg')},jazz,1,4",
        f"{u('pop.m4a')},Pop",
        f"{u('mirror/rock-copy.flac')},rock",
        f"{u('blues.mp3')},blues",  # the same URL again
        f"{u('missing.mp3')},pop",
        f"{u('stall/rock.flac')},rock",
        f"{u('truncated/rock.flac')},rock",
        f"{u('cut.m4a')},pop",
        f"{u('fake.mp3')},pop",
        f"{u('page.html')},pop",
        f"{u('silent-video.mp4')},pop",
        "file:///etc/hostname,pop",
        f"{u('rock.flac')},../../../escaped,1,2",
        "",
    ]))
    cfg = _config(tmp_path / "home")
    store, catalog = BlobStore(cfg.store_dir), Catalog(cfg.catalog_path)
    started = time.perf_counter()
    summary = ingest_manifest(manifest, store, catalog, cfg.ingest, cfg.download_dir, progress=False)
    took = time.perf_counter() - started

    frame = catalog.frame().set_index("source_id")
    ok = frame[frame["status"] == "ok"]
    assert sorted(ok.index) == sorted([u("blues.mp3"), u("rock.flac"), f"{u('jazz.ogg')}#t=1,4", u("pop.m4a"),
                                       u("mirror/rock-copy.flac"), f"{u('rock.flac')}#t=1,2"])
    assert dict(summary.by_label) == {"blues": 1, "rock": 2, "jazz": 1, "pop": 1, "escaped": 1}
    assert (ok["format"] == "flac").all() and (ok["sample_rate"] == 22050).all()
    assert ok.loc[u("blues.mp3"), "duration"] == pytest.approx(6.0, abs=0.1)
    assert ok.loc[f"{u('jazz.ogg')}#t=1,4", "duration"] == pytest.approx(3.0, abs=0.1)  # download range
    assert ok.loc[f"{u('jazz.ogg')}#t=1,4", ["start", "end"]].tolist() == [1.0, 4.0]
    # a mirror of the same file is the same clip: one blob, two rows
    assert ok.loc[u("rock.flac"), "clip_id"] == ok.loc[u("mirror/rock-copy.flac"), "clip_id"]
    blobs = [p for p in store.root.rglob("*") if p.is_file()]
    assert len(blobs) == 5 and all(sha256_file(p) == p.name for p in blobs)
    assert sf.info(str(store.path(ok.loc[u("pop.m4a"), "sha256"]))).samplerate == 22050

    reasons = frame[frame["status"] == "failed"]["reason"]
    assert "HTTP error 404" in reasons[u("missing.mp3")]
    assert "timed out" in reasons[u("stall/rock.flac")] and "after 2 attempts" in reasons[u("stall/rock.flac")]
    assert "cut short" in reasons[u("truncated/rock.flac")]
    assert "not decodable audio" in reasons[u("cut.m4a")]
    assert "not decodable audio" in reasons[u("fake.mp3")]
    assert "no audio or video found" in reasons[u("page.html")]
    assert "no audio stream" in reasons[u("silent-video.mp4")]
    assert "file:// URLs are refused" in reasons["invalid:file:///etc/hostname,pop"]
    assert len(reasons) == 8 and summary.by_status["failed"] == 8
    assert sorted(summary.network_failures) == sorted([u("stall/rock.flac"), u("truncated/rock.flac")])
    assert summary.duplicates == [f"line 7 repeats line 2 ({u('blues.mp3')})"]
    # yt-dlp's generic extractor looks at a URL once and downloads it once: the duplicate cost nothing
    assert server.hits["/blues.mp3"] == 2
    assert took < 20, f"a stalled server must not hold the batch up ({took:.1f} s)"
    # nothing outside the home folder, no temporary or partial file anywhere in it
    assert sorted(p.name for p in tmp_path.iterdir()) == ["home", "songs.csv"]
    assert _temporaries(tmp_path / "home") == []
    assert not list(tmp_path.rglob("*escaped*"))

    hits_before = dict(server.hits)
    again = ingest_manifest(manifest, store, catalog, cfg.ingest, cfg.download_dir, progress=False)
    assert again.skipped == 6 and again.by_status["ok"] == 0 and again.by_status["failed"] == 8
    assert server.hits["/blues.mp3"] == hits_before["/blues.mp3"]  # finished items are not downloaded again
    assert server.hits["/missing.mp3"] == hits_before["/missing.mp3"] + 1  # failed ones are tried again
    assert len(catalog.frame()) == 14


def test_two_sources_share_one_blob(server: AudioServer, tmp_path: Path) -> None:
    cfg = _config(tmp_path / "home")
    store, catalog = BlobStore(cfg.store_dir), Catalog(cfg.catalog_path)
    for name in ("first", "second"):
        (tmp_path / f"{name}.csv").write_text(f"{server.url('rock.flac')},rock\n")
        ingest_manifest(tmp_path / f"{name}.csv", store, catalog, cfg.ingest, cfg.download_dir, progress=False)
    frame = catalog.frame()
    assert sorted(frame["source"]) == ["manifest:first", "manifest:second"]
    assert frame["clip_id"].nunique() == 1 and len(list(store.root.rglob("*/*"))) == 1


def test_rate_limit_slows_a_download(server: AudioServer, www: Path, tmp_path: Path) -> None:
    size = (www / "rock.flac").stat().st_size
    manifest = tmp_path / "one.csv"
    manifest.write_text(f"{server.url('rock.flac')},rock\n")
    cfg = _config(tmp_path / "home", rate_limit=str(size // 2))  # bytes/s: about two seconds
    started = time.perf_counter()
    summary = ingest_manifest(manifest, BlobStore(cfg.store_dir), Catalog(cfg.catalog_path), cfg.ingest,
                              cfg.download_dir, progress=False)
    assert summary.by_status["ok"] == 1
    assert time.perf_counter() - started > 1.2


def test_file_urls_only_when_enabled(www: Path, tmp_path: Path) -> None:
    manifest = tmp_path / "local.csv"
    manifest.write_text(f"{(www / 'rock.flac').as_uri()},rock\n")
    for allowed, status in ((False, "failed"), (True, "ok")):
        cfg = _config(tmp_path / f"home-{allowed}", allow_file_urls=allowed)
        summary = ingest_manifest(manifest, BlobStore(cfg.store_dir), Catalog(cfg.catalog_path), cfg.ingest,
                                  cfg.download_dir, progress=False)
        assert dict(summary.by_status) == {status: 1}


def test_manifest_lines_are_checked(tmp_path: Path) -> None:
    cfg = IngestConfig(youtube_url="http://mirror.test/{ytid}.webm")
    manifest = tmp_path / "m.csv"
    manifest.write_text("\n".join([
        "# a comment",
        "https://youtu.be/dQw4w9WgXcQ,Hip Hop,30,40",
        "https://www.youtube.com/watch?v=dQw4w9WgXcQ&t=5,hip-hop,30,40",  # the same item as a watch URL
        "dQw4w9WgXcQ,pop",
        "http://x.test/a.mp3,rock,5",
        "http://x.test/b.mp3,rock,abc,10",
        "http://x.test/c.mp3,rock,10,5",
        "http://x.test/d.mp3,!!!",
        "ftp://x.test/e.mp3,rock",
        "http://x.test/f.mp3,rock,1,2,extra",
        "../../etc/passwd,rock",
    ]))
    parsed = read_manifest(manifest, cfg, "manifest:m")
    assert [(i.source_id, i.url, i.label) for i in parsed.items] == [
        ("youtube:dQw4w9WgXcQ#t=30,40", "http://mirror.test/dQw4w9WgXcQ.webm", "hip-hop"),
        ("youtube:dQw4w9WgXcQ", "http://mirror.test/dQw4w9WgXcQ.webm", "pop"),
    ]
    assert parsed.duplicates == ["line 3 repeats line 2 (youtube:dQw4w9WgXcQ#t=30,40)"]
    reasons = [r.reason for r in parsed.invalid]
    assert reasons == [
        "line 5: give both start and end seconds, or neither",
        "line 6: start 'abc' is not a number of seconds",
        "line 7: end 5 s is not after start 10 s",
        "line 8: label '!!!' is empty once normalised (it holds no letter or digit)",
        "line 9: not an http(s) URL or a YouTube id/URL",
        "line 10: 5 columns; expected url,label[,start,end]",
        "line 11: not an http(s) URL or a YouTube id/URL",
    ]
    assert all(r.status == "failed" and r.source_id.startswith("invalid:") for r in parsed.invalid)


@pytest.mark.parametrize("text, expected", [
    ("dQw4w9WgXcQ", "dQw4w9WgXcQ"), ("https://www.youtube.com/watch?v=dQw4w9WgXcQ", "dQw4w9WgXcQ"),
    ("https://youtube.com/shorts/dQw4w9WgXcQ", "dQw4w9WgXcQ"), ("https://youtu.be/dQw4w9WgXcQ?t=3", "dQw4w9WgXcQ"),
    ("https://www.youtube.com/watch?v=short", None), ("https://example.org/watch?v=dQw4w9WgXcQ", None),
    ("../../etc/x", None),
])
def test_youtube_ids(text: str, expected: str | None) -> None:
    assert youtube_id(text) == expected


def test_file_scheme_refusal_names_the_setting() -> None:
    with pytest.raises(ValueError, match="allow_file_urls"):
        make_item("file:///tmp/a.wav", "rock", None, None, IngestConfig())


def test_slow_and_oversized_downloads_fail_with_their_reason(www: Path, tmp_path: Path) -> None:
    manifest = tmp_path / "two.csv"
    size_mb = (www / "rock.flac").stat().st_size / 1e6
    with AudioServer(www, bandwidth=100_000) as server:  # a trickle: data keeps coming, slowly
        manifest.write_text(f"{server.url('rock.flac')},rock\n")
        cfg = _config(tmp_path / "slow", retries=0, max_item_seconds=0.5)
        slow = ingest_manifest(manifest, BlobStore(cfg.store_dir), Catalog(cfg.catalog_path), cfg.ingest,
                               cfg.download_dir, progress=False)
        cfg = _config(tmp_path / "big", max_file_mb=size_mb / 2)
        big = ingest_manifest(manifest, BlobStore(cfg.store_dir), Catalog(cfg.catalog_path), cfg.ingest,
                              cfg.download_dir, progress=False)
    assert "took longer than 0.5 s" in slow.failures[0][1]
    assert f"larger than {size_mb / 2:g} MB" in big.failures[0][1]
    assert _temporaries(tmp_path) == []
