"""The prediction log: one JSON line per answer of the service, written off the request path, and feedback beside it.

Layout: ``<home>/predictions/<YYYY-MM-DD>/predictions-<host>-<pid>.jsonl`` and ``feedback-<host>-<pid>.jsonl``
(``audio/<request id>.flac`` too when audio is kept). One file per process and UTC day, so several workers never
share a file, and each line is one ``os.write`` to a descriptor opened with ``O_APPEND``: a reader sees whole lines
(a process killed mid-write can leave one torn last line, which readers skip). A request only puts its record on a
queue; one thread per process writes. Day folders older than the retention are deleted at the first write of a day.
"""

from __future__ import annotations

import json
import os
import queue
import re
import shutil
import socket
import sys
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

LOG_DIR = "predictions"
KINDS = ("predictions", "feedback")
_ID = re.compile(r"^(\d{8})-[0-9a-f]{20}$")


def log_dir(home: str | Path) -> Path:
    return Path(home) / LOG_DIR


def now() -> datetime:
    return datetime.now(UTC)


def new_request_id(at: datetime | None = None) -> str:
    """``YYYYMMDD-<20 hex digits>``: unique, and it names the day folder its record is in."""
    return f"{(at or now()):%Y%m%d}-{uuid.uuid4().hex[:20]}"


def _day_of(request_id: str) -> str | None:
    found = _ID.match(request_id)
    return f"{found[1][:4]}-{found[1][4:6]}-{found[1][6:]}" if found else None


def prune(root: str | Path, retention_days: int, today: date | None = None) -> list[str]:
    """Delete the day folders of ``root`` older than ``retention_days``; returns their names."""
    oldest = (today or now().date()) - timedelta(days=retention_days)
    gone = []
    for folder in sorted(Path(root).glob("????-??-??")):
        try:
            old = date.fromisoformat(folder.name) < oldest
        except ValueError:
            continue
        if old:
            shutil.rmtree(folder, ignore_errors=True)  # another worker may be deleting it too
            gone.append(folder.name)
    return gone


class PredictionLog:
    """The writer of one process: :meth:`predicted` and :meth:`feedback` queue a record and return at once."""

    def __init__(self, home: str | Path, retention_days: int = 30, keep_audio: bool = False,
                 sample_rate: int = 22050) -> None:
        self.root, self.retention_days = log_dir(home), retention_days
        self.keep_audio, self.sample_rate = keep_audio, sample_rate
        self.errors = 0
        self._queue: queue.Queue[tuple[str, dict[str, Any], np.ndarray | None] | None] = queue.Queue()
        self._files: dict[tuple[str, str], int] = {}
        self._day = ""
        self._suffix = f"{socket.gethostname()}-{os.getpid()}.jsonl"
        self._thread = threading.Thread(target=self._run, name="prediction-log", daemon=True)
        self._thread.start()

    def predicted(self, record: dict[str, Any], audio: np.ndarray | None = None) -> None:
        """Queue one answer (``id`` and ``at`` set by the caller); ``audio`` is kept only if the log keeps audio."""
        self._queue.put(("predictions", record, audio if self.keep_audio else None))

    def feedback(self, request_id: str, genre: str) -> None:
        self._queue.put(("feedback", {"id": request_id, "genre": genre, "at": now().isoformat()}, None))

    def flush(self) -> None:
        """Wait until every queued record is written."""
        self._queue.join()

    def close(self) -> None:
        """Write what is queued, stop the thread and close the files."""
        if self._thread.is_alive():
            self._queue.put(None)
            self._thread.join()
        for fd in self._files.values():
            os.close(fd)
        self._files.clear()

    def _run(self) -> None:
        while (item := self._queue.get()) is not None:
            try:
                self._write(*item)
            except (OSError, TypeError, ValueError) as exc:  # a full disk must not stop the service
                self.errors += 1
                print(f"prediction log: a record was not written: {exc}", file=sys.stderr)
            finally:
                self._queue.task_done()
        self._queue.task_done()

    def _write(self, kind: str, record: dict[str, Any], audio: np.ndarray | None) -> None:
        day = record["at"][:10]
        if day != self._day:  # a new day: close yesterday's files, apply the retention
            for key in [k for k in self._files if k[0] != day]:
                os.close(self._files.pop(key))
            prune(self.root, self.retention_days)
            self._day = day
        folder = self.root / day
        if (day, kind) not in self._files:
            folder.mkdir(parents=True, exist_ok=True)
            self._files[day, kind] = os.open(folder / f"{kind}-{self._suffix}", os.O_WRONLY | os.O_APPEND | os.O_CREAT,
                                             0o644)
        if "features" in record:
            record = {**record, "features": [float(f"{v:.6g}") for v in record["features"]]}
        os.write(self._files[day, kind], (json.dumps(record, separators=(",", ":")) + "\n").encode())
        if audio is not None:
            import soundfile as sf

            (folder / "audio").mkdir(exist_ok=True)
            sf.write(folder / "audio" / f"{record['id']}.flac", audio, self.sample_rate, format="FLAC")


def _lines(path: Path) -> Iterator[dict[str, Any]]:
    with open(path, "rb") as handle:
        for line in handle:
            try:
                yield json.loads(line)
            except ValueError:  # a torn last line of a killed process
                continue


def read(home: str | Path, kind: str, since: datetime, until: datetime | None = None) -> list[dict[str, Any]]:
    """Every ``kind`` record (``predictions`` or ``feedback``) with ``since <= at < until``, oldest first."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    until = until or now() + timedelta(days=1)
    records = []
    for folder in sorted(log_dir(home).glob("????-??-??")):
        if since.date().isoformat() <= folder.name <= until.date().isoformat():
            for path in sorted(folder.glob(f"{kind}-*.jsonl")):
                records += [r for r in _lines(path) if since <= datetime.fromisoformat(r["at"]) < until]
    return sorted(records, key=lambda r: r["at"])


def is_logged(home: str | Path, request_id: str) -> bool:
    """Whether an answer with ``request_id`` is in the log (of any process); a malformed id never is."""
    day = _day_of(request_id)
    if day is None:
        return False
    needle = f'"id":"{request_id}"'.encode()
    return any(needle in path.read_bytes() for path in (log_dir(home) / day).glob("predictions-*.jsonl"))
