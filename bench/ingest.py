"""Ingestion speed: folder ingest of gtzan-mini, and downloads from a local server at parallelism 1, 4 and 8.

    PYTHONPATH=$PWD python bench/ingest.py [--clips 16]

Folder ingest is compared with a plain copy of the same files (the I/O floor). Downloads go
through yt-dlp (generic extractor, HTTP download, FLAC conversion, store, catalog) from a
local server twice: as fast as localhost allows, and as a "remote" server with 100 ms latency
per request and 1 MB/s per connection, which is where parallel downloads pay off. Ratios are
throughput against parallelism 1 on the same server.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from genre.config import load_config  # noqa: E402
from genre.data.catalog import Catalog  # noqa: E402
from genre.data.ingest import ingest_folder, ingest_manifest  # noqa: E402
from genre.data.store import BlobStore  # noqa: E402
from tests.audio_server import AudioServer, convert  # noqa: E402

GTZAN = ROOT.parent / "shared" / "data" / "gtzan-mini"


def bench_folder(work: Path) -> tuple[float, float, int]:
    files = sorted(GTZAN.glob("*/*.wav"))
    start = time.perf_counter()
    for f in files:
        shutil.copyfile(f, work / f"copy-{f.name}")
    copy_s = time.perf_counter() - start
    cfg = load_config(home=str(work / "home"))
    start = time.perf_counter()
    summary = ingest_folder(GTZAN, BlobStore(cfg.store_dir), Catalog(cfg.catalog_path), cfg.ingest, progress=False)
    ingest_s = time.perf_counter() - start
    assert summary.by_status["ok"] == len(files), summary
    return copy_s, ingest_s, len(files)


def bench_downloads(www: Path, manifest_lines: list[tuple[str, str]], parallelism: int, work: Path,
                    **server: float) -> float:
    """Seconds to ingest ``manifest_lines`` into a fresh home, ``parallelism`` downloads at once."""
    work = Path(tempfile.mkdtemp(dir=work))
    with AudioServer(www, **server) as srv:
        manifest = work / "urls.csv"
        manifest.write_text("".join(f"{srv.url(name)},{label}\n" for name, label in manifest_lines))
        cfg = load_config(home=str(work / "home"), **{"ingest.parallelism": parallelism})
        start = time.perf_counter()
        summary = ingest_manifest(manifest, BlobStore(cfg.store_dir), Catalog(cfg.catalog_path), cfg.ingest,
                                  cfg.download_dir, progress=False)
        seconds = time.perf_counter() - start
    assert summary.by_status["ok"] == len(manifest_lines), summary
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clips", type=int, default=16, help="clips per download run (default 16)")
    args = parser.parse_args()
    if not GTZAN.is_dir():
        sys.exit(f"needs the real clips in {GTZAN}")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        copy_s, ingest_s, n = bench_folder(work)
        print(f"folder ingest of gtzan-mini ({n} wav clips, 15-20 s each)")
        print(f"  plain copy   {copy_s:6.2f} s  {n / copy_s:7.1f} clips/s  (baseline)")
        print(f"  ingest       {ingest_s:6.2f} s  {n / ingest_s:7.1f} clips/s  {copy_s / ingest_s:5.2f}x the copy")

        www = work / "www"
        www.mkdir()
        wavs = sorted(GTZAN.glob("*/*.wav"))[:: max(1, 70 // args.clips)][: args.clips]
        lines = [(convert(w, www / f"{w.stem}.mp3").name, w.parent.name) for w in wavs]
        megabytes = sum((www / name).stat().st_size for name, _ in lines) / 1e6
        bench_downloads(www, lines[:1], 1, work)  # imports and first-call costs out of the way
        for label, server in (("localhost", {}), ("remote: 100 ms latency, 1 MB/s per connection",
                                                  {"latency": 0.1, "bandwidth": 1e6})):
            print(f"\ndownloads of {len(lines)} mp3 clips ({megabytes:.1f} MB) from {label}")
            base = None
            for parallelism in (1, 4, 8):
                seconds = bench_downloads(www, lines, parallelism, work, **server)
                rate = len(lines) / seconds
                base = base or rate
                print(f"  parallelism {parallelism}  {seconds:6.2f} s  {rate:5.2f} clips/s  "
                      f"{megabytes / seconds:5.2f} MB/s  {rate / base:5.2f}x parallelism 1")


if __name__ == "__main__":
    main()
