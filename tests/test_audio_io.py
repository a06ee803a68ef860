"""Reading files as they come: headers through ffmpeg, Excel's BOM, and file modes of atomic writes."""

from __future__ import annotations

import os
import stat
import subprocess
import time
from pathlib import Path

import numpy as np
import soundfile as sf

from genre.atomic import write_text
from genre.config import IngestConfig
from genre.data.audio import ffmpeg_exe, load, probe
from genre.data.ingest.manifest import read_manifest


def test_ffmpeg_probe_reads_the_header_of_what_soundfile_cannot(tmp_path: Path) -> None:
    stereo = tmp_path / "stereo.wav"
    t = np.arange(48000 * 20) / 48000
    sf.write(stereo, np.stack([np.sin(2 * np.pi * 440 * t), np.sin(2 * np.pi * 660 * t)], axis=1) * 0.3, 48000)
    m4a = tmp_path / "song.m4a"
    subprocess.run([ffmpeg_exe(), "-v", "error", "-nostdin", "-y", "-i", str(stereo), "-c:a", "aac", str(m4a)],
                   check=True)
    start = time.perf_counter()
    info = probe(m4a)
    seconds = time.perf_counter() - start
    assert (info.sample_rate, info.channels, info.format) == (48000, 2, "aac")
    assert abs(info.duration - 20.0) < 0.1
    assert seconds < 2.0  # the header only, not a decode of the whole file
    both = load(m4a, 22050, mono=False)
    assert both.shape[1] == 2 and abs(len(both) / 22050 - 20.0) < 0.1
    assert load(m4a, 22050).ndim == 1


def test_a_manifest_saved_by_excel_keeps_its_first_row(tmp_path: Path) -> None:
    manifest = tmp_path / "urls.csv"
    manifest.write_bytes("https://example.org/a.mp3,rock\nhttps://example.org/b.mp3,jazz\n".encode("utf-8-sig"))
    items = read_manifest(manifest, IngestConfig(), "manifest:urls").items
    assert [i.url for i in items] == ["https://example.org/a.mp3", "https://example.org/b.mp3"]


def test_atomic_writes_follow_the_umask(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        write_text(tmp_path / "report.md", "hello")
    finally:
        os.umask(old)
    mode = stat.S_IMODE((tmp_path / "report.md").stat().st_mode)
    assert mode == 0o666 & ~old, oct(mode)
