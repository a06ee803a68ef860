"""Atomic file writes: a temporary file in the same folder, then a rename."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

_OWNER = re.compile(r"\.~(\d+)~\.")


def _file_mode() -> int:
    """0666 less the process's umask: the mode ``open()`` would give a new file (mkstemp gives 0600)."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


_FILE_MODE = _file_mode()


def owner_tag() -> str:
    """``.~<pid>~.``: marks a temporary name with the process that writes it."""
    return f".~{os.getpid()}~."


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_orphans(folder: str | Path) -> int:
    """Delete temporary files and folders under ``folder`` whose writing process is gone.

    A killed run leaves its temporary names (see :func:`owner_tag`) behind; those of
    processes still running, e.g. a concurrent ingest, are left alone.
    """
    folder = Path(folder)
    if not folder.is_dir():
        return 0
    removed = 0
    for path in list(folder.rglob(".*")):
        match = _OWNER.search(path.name)
        if not match or _alive(int(match.group(1))) or not path.exists():
            continue
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
        removed += 1
    return removed


@contextlib.contextmanager
def atomic_path(target: str | Path, suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path that replaces ``target`` only if the block succeeds."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}{owner_tag()}", suffix=suffix or ".tmp", dir=target.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    os.chmod(tmp_path, _FILE_MODE)
    try:
        yield tmp_path
        os.replace(tmp_path, target)
    finally:
        tmp_path.unlink(missing_ok=True)


@contextlib.contextmanager
def locked(target: str | Path) -> Iterator[None]:
    """Hold an exclusive lock on ``target`` (through ``<target>.lock``) for the block; other processes wait."""
    import fcntl

    lock = Path(f"{target}.lock")
    lock.parent.mkdir(parents=True, exist_ok=True)
    with open(lock, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@contextlib.contextmanager
def locked_by(target: str | Path, holder: str, notify: Callable[[str], None] = print) -> Iterator[None]:
    """:func:`locked`, telling whoever must wait why: ``holder`` (who takes the lock) is written into the lock
    file, and a process that finds the lock taken passes the current holder to ``notify`` before it waits."""
    import fcntl

    lock = Path(f"{target}.lock")
    lock.parent.mkdir(parents=True, exist_ok=True)
    with open(lock, "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            notify(f"waiting for {lock}: held by {handle.read().strip() or 'another process'}")
            start = time.monotonic()
            fcntl.flock(handle, fcntl.LOCK_EX)
            notify(f"took {lock} after {time.monotonic() - start:.0f} s")
        handle.truncate(0)
        handle.write(holder + "\n")
        handle.flush()
        try:
            yield
        finally:
            handle.truncate(0)
            fcntl.flock(handle, fcntl.LOCK_UN)


def write_bytes(target: str | Path, data: bytes) -> None:
    with atomic_path(target) as tmp:
        tmp.write_bytes(data)


def write_text(target: str | Path, text: str) -> None:
    write_bytes(target, text.encode())


def write_json(target: str | Path, obj: Any) -> None:
    write_text(target, json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n")
