"""The catalog: one row per source item, in SQLite (safe for concurrent writers)."""

from __future__ import annotations

import hashlib
import sqlite3
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

OK = "ok"
FAILED = "failed"
QUARANTINED = "quarantined"


@dataclass
class CatalogRow:
    """One item a source offered: where it came from and what became of it."""

    source: str
    source_id: str
    label: str
    status: str = OK
    reason: str = ""
    clip_id: str = ""
    sha256: str = ""
    start: float | None = None
    end: float | None = None
    duration: float | None = None
    sample_rate: int | None = None
    channels: int | None = None
    format: str = ""
    ingested_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))


COLUMNS = [f.name for f in fields(CatalogRow)]
_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS catalog (
    {", ".join(COLUMNS)},
    PRIMARY KEY (source, source_id)
)
"""


class Catalog:
    """SQLite-backed catalog; every write is one transaction."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        for attempt in range(100):
            try:
                with self._connect() as db:
                    # switching to WAL takes an exclusive lock that SQLite's busy timeout does not wait for
                    if db.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                        db.execute("PRAGMA journal_mode=WAL")
                    db.execute(_SCHEMA)
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or attempt == 99:
                    raise
                time.sleep(0.05 * (1 + attempt % 10))

    def _connect(self) -> sqlite3.Connection:
        return sqlite3.connect(self.path, timeout=60)

    def upsert(self, rows: Iterable[CatalogRow]) -> int:
        """Insert or replace rows keyed by (source, source_id)."""
        records = [tuple(asdict(r)[c] for c in COLUMNS) for r in rows]
        if not records:
            return 0
        marks = ", ".join("?" for _ in COLUMNS)
        with self._connect() as db:
            db.executemany(f"INSERT OR REPLACE INTO catalog ({', '.join(COLUMNS)}) VALUES ({marks})", records)
        return len(records)

    def done(self, source: str) -> set[str]:
        """Source ids of ``source`` already ingested successfully."""
        with self._connect() as db:
            cur = db.execute("SELECT source_id FROM catalog WHERE source = ? AND status = ?", (source, OK))
            return {r[0] for r in cur}

    def done_items(self, source: str) -> dict[str, tuple[str, str]]:
        """Source id -> (sha256, label) of the items of ``source`` already ingested successfully."""
        with self._connect() as db:
            cur = db.execute("SELECT source_id, sha256, label FROM catalog WHERE source = ? AND status = ?",
                             (source, OK))
            return {r[0]: (r[1], r[2]) for r in cur}

    def is_done(self, source: str, source_id: str) -> bool:
        """Whether this one item of ``source`` is already ingested successfully."""
        with self._connect() as db:
            cur = db.execute("SELECT 1 FROM catalog WHERE source = ? AND source_id = ? AND status = ?",
                             (source, source_id, OK))
            return cur.fetchone() is not None

    def set_item_status(self, reasons: dict[str, str], status: str) -> None:
        """Flag catalog items, named as by :func:`item`, each with its own reason; audio stays stored."""
        with self._connect() as db:
            db.executemany(
                "UPDATE catalog SET status = ?, reason = ? WHERE source || ':' || source_id = ?",
                [(status, reason, key) for key, reason in reasons.items()],
            )

    def frame(self) -> pd.DataFrame:
        """The whole catalog as a DataFrame."""
        with self._connect() as db:
            return pd.read_sql_query(f"SELECT {', '.join(COLUMNS)} FROM catalog ORDER BY source, source_id", db)


def item(source: str, source_id: str) -> str:
    """The readable unique name of a catalog row, e.g. ``folder:gtzan-mini:blues/blues.00001.wav``."""
    return f"{source}:{source_id}"


def recording(source_id: str, clip_id: str) -> str:
    """The recording an item was cut from: for a section (``#t=start,end``) its URL or YouTube id, else the clip.

    Sections of one recording share it, so the split keeps them on one side even where they overlap. It names
    no folder or manifest, so the split does not change when the data moves.
    """
    return f"recording:{source_id.split('#t=')[0]}" if "#t=" in source_id else f"clip:{clip_id}"


def clips(frame: pd.DataFrame) -> pd.DataFrame:
    """Distinct usable clips (status ok), one row per clip id, with the ``recording`` each was cut from."""
    ok = frame[frame["status"] == OK].drop_duplicates("clip_id").sort_values("clip_id").reset_index(drop=True)
    return ok.assign(recording=[recording(i, c) for i, c in zip(ok["source_id"], ok["clip_id"])])


def data_version(frame: pd.DataFrame) -> str:
    """Hash of the (clip id, sha256, label) rows used: equal hashes mean a model learnt from the same data."""
    rows = sorted(zip(frame["clip_id"].astype(str), frame["sha256"].astype(str), frame["label"].astype(str)))
    return hashlib.sha256("\n".join(",".join(r) for r in rows).encode()).hexdigest()[:12]
