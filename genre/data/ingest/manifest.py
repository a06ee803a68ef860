"""Ingest a manifest CSV (``url,label[,start,end]``): each item fetched with the yt-dlp Python API.

An item is downloaded as best audio (only ``[start, end]`` of it when given, through yt-dlp's
download ranges), converted to one lossless format at the configured sample rate, stored under
its sha256 and recorded in the catalog. Temporary files are named by a work folder of this
process, never by titles or ids from the manifest, and are gone once the item is done.

The catalog is the download archive: an item counts as done only once its audio is stored and
its row committed, so a rerun (or a concurrent run) skips it, and a killed run redoes at most the
items that were in flight. (yt-dlp's own ``download_archive`` keys items by extractor id, which
for direct files is the file name, and writes before the audio is stored, so it could skip an
item whose audio was never kept.)
"""

from __future__ import annotations

import csv
import math
import os
import re
import shutil
import tempfile
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from tqdm.auto import tqdm

from genre.atomic import owner_tag, remove_orphans
from genre.config import IngestConfig
from genre.data.audio import AudioError, ffmpeg_exe, to_lossless
from genre.data.catalog import FAILED, Catalog, CatalogRow
from genre.data.ingest.common import IngestSummary, ingest_file, normalise_label
from genre.data.store import BlobStore

YOUTUBE_ID = re.compile(r"[A-Za-z0-9_-]{11}")
_YOUTUBE_HOSTS = {"youtube.com", "www.youtube.com", "m.youtube.com", "music.youtube.com"}
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


@dataclass(frozen=True)
class ManifestItem:
    """One thing to fetch: ``source_id`` is how the catalog knows it, ``url`` where it is fetched."""

    source_id: str
    url: str
    label: str
    start: float | None = None
    end: float | None = None


@dataclass
class Manifest:
    """A parsed manifest: items to fetch, rows that were refused, and repeated entries."""

    items: list[ManifestItem] = field(default_factory=list)
    invalid: list[CatalogRow] = field(default_factory=list)
    duplicates: list[str] = field(default_factory=list)


class ItemFailure(Exception):
    """Why one item could not be fetched; ``network`` marks a transient error worth retrying."""

    def __init__(self, reason: str, network: bool) -> None:
        super().__init__(reason)
        self.reason, self.network = reason, network


def youtube_id(text: str) -> str | None:
    """The video id of a YouTube id or watch/short/embed/youtu.be URL, else ``None``."""
    text = text.strip()
    if YOUTUBE_ID.fullmatch(text):
        return text
    parts = urlsplit(text)
    host = (parts.hostname or "").lower()
    if host == "youtu.be":
        candidate = parts.path.strip("/")
    elif host in _YOUTUBE_HOSTS:
        segments = parts.path.strip("/").split("/")
        candidate = parse_qs(parts.query).get("v", [""])[0]
        if not candidate and len(segments) == 2 and segments[0] in ("shorts", "embed", "live"):
            candidate = segments[1]
    else:
        return None
    return candidate if YOUTUBE_ID.fullmatch(candidate) else None


def _seconds(text: str | None, what: str) -> float | None:
    if text is None or not text.strip():
        return None
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{what} {text!r} is not a number of seconds") from None
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"{what} {text!r} must be a finite, non-negative number of seconds")
    return value


def make_item(url: str, label: str, start: str | None, end: str | None, cfg: IngestConfig) -> ManifestItem:
    """Check one manifest entry and resolve where to fetch it; raises ValueError with the reason."""
    url = url.strip()
    if not url:
        raise ValueError("the url is empty")
    label = normalise_label(label or "")
    first, last = _seconds(start, "start"), _seconds(end, "end")
    if (first is None) != (last is None):
        raise ValueError("give both start and end seconds, or neither")
    if first is not None and last is not None and last <= first:
        raise ValueError(f"end {last:g} s is not after start {first:g} s")
    video = youtube_id(url)
    if video:
        source_id, fetch = f"youtube:{video}", cfg.youtube_url.format(ytid=video)
    else:
        scheme = urlsplit(url).scheme.lower()
        if scheme == "file" and not cfg.allow_file_urls:
            raise ValueError("file:// URLs are refused; set ingest.allow_file_urls=true to read local files")
        if scheme not in ("http", "https", "file"):
            raise ValueError("not an http(s) URL or a YouTube id/URL")
        source_id, fetch = url, url
    if first is not None:
        source_id += f"#t={first:g},{last:g}"
    return ManifestItem(source_id, fetch, label, first, last)


def read_manifest(path: str | Path, cfg: IngestConfig, source: str) -> Manifest:
    """Parse ``url,label[,start,end]`` lines (a header line is optional; ``#`` starts a comment)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"manifest {path} does not exist; give a CSV of url,label[,start,end] lines")
    manifest, seen = Manifest(), {}
    with open(path, newline="", encoding="utf-8-sig") as f:  # Excel writes a BOM
        for number, cells in enumerate(csv.reader(f), start=1):
            cells = [c.strip() for c in cells]
            if not any(cells) or cells[0].startswith("#") or (number == 1 and cells[0].lower() == "url"):
                continue
            url, label, start, end = (cells + ["", "", "", ""])[:4]
            try:
                if len(cells) > 4 and any(cells[4:]):
                    raise ValueError(f"{len(cells)} columns; expected url,label[,start,end]")
                item = make_item(url, label, start, end, cfg)
            except ValueError as exc:
                # keyed by the whole line, so a refused line never replaces the row of a valid item
                manifest.invalid.append(CatalogRow(source=source, source_id="invalid:" + ",".join(cells), label="",
                                                   status=FAILED, reason=f"line {number}: {exc}"))
                continue
            if item.source_id in seen:
                first_line, first_label = seen[item.source_id]
                note = f"line {number} repeats line {first_line} ({item.source_id})"
                if item.label != first_label:
                    note += f" with label {item.label!r}; kept {first_label!r}"
                manifest.duplicates.append(note)
                continue
            seen[item.source_id] = (number, item.label)
            manifest.items.append(item)
    return manifest


class _Silent:
    """yt-dlp logger that keeps quiet: failures come back as exceptions with their reason."""

    def debug(self, msg: str) -> None:
        return

    info = warning = error = debug


def _failure(exc: BaseException) -> ItemFailure:
    """Turn a yt-dlp exception into a reason, and decide whether it is transient."""
    from yt_dlp.networking.exceptions import HTTPError, TransportError
    from yt_dlp.utils import ContentTooShortError, UnsupportedError

    chain, node = [], exc
    while node is not None and node not in chain:
        chain.append(node)
        info = getattr(node, "exc_info", None)
        node = (info[1] if info else None) or getattr(node, "cause", None) or node.__cause__ or node.__context__
    for node in chain:
        if isinstance(node, HTTPError):
            transient = node.status in (408, 425, 429) or node.status >= 500
            return ItemFailure(f"HTTP error {node.status} {node.reason or ''}".strip(), network=transient)
        if isinstance(node, UnsupportedError):
            return ItemFailure("no audio or video found at this URL (not a media file, e.g. a web page)", False)
    text = _ANSI.sub("", str(exc)).removeprefix("ERROR: ").strip()
    text = re.sub(r" \(caused by .*\)$", "", text)  # yt-dlp repeats the cause in brackets
    lowered = text.lower()
    if "timed out" in lowered:
        return ItemFailure(f"timed out: the server sent nothing for too long ({text})", network=True)
    if "more expected" in lowered or any(isinstance(n, ContentTooShortError) for n in chain):
        return ItemFailure(f"transfer cut short ({text})", network=True)
    if "ffmpeg exited" in lowered:
        return ItemFailure(f"section download failed: the server stalled or cut the transfer ({text})", True)
    if any(isinstance(n, (TransportError, ConnectionError, TimeoutError)) for n in chain):
        return ItemFailure(f"network error: {text}", network=True)
    return ItemFailure(text or type(exc).__name__, network=False)


def download(item: ManifestItem, folder: Path, cfg: IngestConfig) -> Path:
    """Fetch ``item`` (best audio, only its section when it has one) into ``folder``.

    Raises :class:`ItemFailure`. ``cfg.timeout`` bounds silence on a connection (HTTP and
    ffmpeg section downloads alike); ``cfg.max_item_seconds`` bounds the whole transfer.
    """
    import yt_dlp
    from yt_dlp.utils import download_range_func, parse_bytes

    ffmpeg_exe()  # section downloads need ffmpeg on PATH
    started = time.monotonic()

    def deadline(status: dict) -> None:
        if time.monotonic() - started > cfg.max_item_seconds:
            raise ItemFailure(f"timed out: the download took longer than {cfg.max_item_seconds:g} s", network=True)

    opts = {
        "format": "bestaudio/best", "outtmpl": str(folder / "download.%(ext)s"), "noplaylist": True,
        "logger": _Silent(), "quiet": True, "no_warnings": True, "noprogress": True, "cachedir": False,
        "socket_timeout": cfg.timeout, "retries": 0, "fragment_retries": 0, "extractor_retries": 0,
        "max_filesize": int(cfg.max_file_mb * 1e6), "enable_file_urls": cfg.allow_file_urls,
        "progress_hooks": [deadline],
        # ffmpeg (section downloads): give up after `timeout` of silence, and on any read error
        "external_downloader_args": {"ffmpeg_i": ["-rw_timeout", str(int(cfg.timeout * 1e6)), "-xerror"]},
    }
    if cfg.rate_limit:
        opts["ratelimit"] = parse_bytes(cfg.rate_limit)
    if item.start is not None:
        # A stream copy cuts at packet/page boundaries (an Ogg section came back starting at 0 s);
        # decoding and writing the section as FLAC cuts exactly and loses nothing.
        opts["download_ranges"] = download_range_func(None, [(item.start, item.end)])
        opts["force_keyframes_at_cuts"] = True
        opts["external_downloader_args"]["ffmpeg_o"] = ["-vn", "-c:a", "flac", "-f", "flac"]
    try:
        with yt_dlp.YoutubeDL(opts) as ydl:
            info = ydl.extract_info(item.url, download=False)
            if info.get("_type") in ("playlist", "multi_video"):
                raise ItemFailure("the URL is a playlist; list its videos one per line instead", network=False)
            info = ydl.process_ie_result(info, download=True)
    except ItemFailure:
        raise
    except Exception as exc:  # yt-dlp raises many types; each becomes a reason
        raise _failure(exc) from exc
    files = [Path(d["filepath"]) for d in info.get("requested_downloads") or [] if d.get("filepath")]
    if not files or not files[0].is_file():
        raise ItemFailure(f"nothing was downloaded (larger than {cfg.max_file_mb:g} MB, or no audio format)",
                          network=False)
    return files[0]


def _with_retries(fetch: Callable[[], Path], cfg: IngestConfig) -> Path:
    """Call ``fetch``, retrying transient failures with exponential backoff."""
    attempt = 0
    while True:
        try:
            return fetch()
        except ItemFailure as failure:
            if not failure.network or attempt >= cfg.retries:
                if attempt:
                    failure.reason += f" (after {attempt + 1} attempts)"
                raise
        time.sleep(cfg.backoff * 2**attempt)
        attempt += 1


def fetch_item(item: ManifestItem, source: str, store: BlobStore, cfg: IngestConfig, work_dir: Path,
               downloaded: Callable[[], None] = lambda: None) -> tuple[CatalogRow, bool]:
    """Download, convert and store one item; returns its catalog row and whether a failure was transient."""
    row = CatalogRow(source=source, source_id=item.source_id, label=item.label, start=item.start, end=item.end)
    work_dir.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix=f".work{owner_tag()}", dir=work_dir))
    try:
        try:
            raw = _with_retries(lambda: download(item, folder, cfg), cfg)
        finally:
            downloaded()
        clip = to_lossless(raw, folder / f"clip.{cfg.audio_format}", cfg.sample_rate)
        row = ingest_file(clip, store, row, cfg)
        row.reason = row.reason.replace(f"{folder}{os.sep}", "")  # no temporary paths in reasons
        return row, False
    except ItemFailure as failure:
        row.status, row.reason = FAILED, failure.reason
        return row, failure.network
    except AudioError as exc:
        row.status, row.reason = FAILED, str(exc).replace(f"{folder}{os.sep}", "")
        return row, False
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def ingest_items(items: Sequence[ManifestItem], source: str, store: BlobStore, catalog: Catalog,
                 cfg: IngestConfig, work_dir: str | Path, progress: bool = True,
                 summary: IngestSummary | None = None) -> IngestSummary:
    """Fetch every item not yet done, ``cfg.parallelism`` at a time; each row is committed as it finishes."""
    work_dir = Path(work_dir)
    summary = summary or IngestSummary(source)
    remove_orphans(work_dir)
    remove_orphans(store.root)
    done = catalog.done(source)
    todo = [i for i in items if i.source_id not in done]
    summary.skipped += len(items) - len(todo)
    if not todo:
        return summary
    ffmpeg_exe()  # fail the batch at once, with instructions, when ffmpeg is missing
    with (tqdm(total=len(todo), desc="download", unit="clip", disable=not progress) as fetched,
          tqdm(total=len(todo), desc="decode", unit="clip", disable=not progress) as decoded,
          ThreadPoolExecutor(max_workers=cfg.parallelism, thread_name_prefix="ingest") as pool):

        def one(item: ManifestItem) -> tuple[CatalogRow, bool] | None:
            if catalog.is_done(source, item.source_id):  # a concurrent run finished it meanwhile
                return None
            return fetch_item(item, source, store, cfg, work_dir, downloaded=lambda: fetched.update(1))

        for future in as_completed([pool.submit(one, item) for item in todo]):
            result = future.result()
            decoded.update(1)
            if result is None:
                fetched.update(1)
                summary.skipped += 1
                continue
            row, network = result
            catalog.upsert([row])
            summary.add(row, network=network)
    return summary


def ingest_manifest(path: str | Path, store: BlobStore, catalog: Catalog, cfg: IngestConfig,
                    work_dir: str | Path, progress: bool = True) -> IngestSummary:
    """Ingest every entry of a manifest CSV; refused entries become failed rows with their reason."""
    source = f"manifest:{Path(path).stem}"
    manifest = read_manifest(path, cfg, source)
    summary = IngestSummary(source, duplicates=manifest.duplicates)
    catalog.upsert(manifest.invalid)
    for row in manifest.invalid:
        summary.add(row)
    return ingest_items(manifest.items, source, store, catalog, cfg, work_dir, progress, summary)
