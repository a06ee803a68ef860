"""What every ingestion path shares: probe, store, catalog row, summary."""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from genre.config import IngestConfig
from genre.data.audio import AudioError, probe
from genre.data.catalog import FAILED, OK, CatalogRow
from genre.data.store import BlobStore, sha256_file


def normalise_label(raw: str) -> str:
    """A stable, readable slug: ``"Hip Hop"`` -> ``"hip-hop"``, ``"Música Latina"`` -> ``"musica-latina"``,
    ``"民谣"`` -> ``"民谣"``: case folded, accents of Latin letters folded, other alphabets kept, words joined by
    dashes. A ValueError (naming the label) when nothing is left."""
    decomposed = unicodedata.normalize("NFKD", raw.strip().casefold())
    folded = unicodedata.normalize("NFC", "".join(c for c in decomposed if not unicodedata.combining(c)))
    label = re.sub(r"[\W_]+", "-", folded).strip("-")
    if not label:
        raise ValueError(f"label {raw!r} is empty once normalised (it holds no letter or digit)")
    return label


def ingest_file(
    path: Path, store: BlobStore, row: CatalogRow, limits: IngestConfig
) -> CatalogRow:
    """Check ``path`` is usable audio, store it, and fill ``row``; failures fill status and reason."""
    try:
        size_mb = path.stat().st_size / 1e6
        if size_mb > limits.max_file_mb:
            raise AudioError(f"{path}: {size_mb:.0f} MB is over the {limits.max_file_mb:.0f} MB limit")
        info = probe(path)
        if info.duration > limits.max_duration:
            raise AudioError(f"{path}: {info.duration:.0f} s is over the {limits.max_duration:.0f} s limit")
        sha = sha256_file(path)
        store.put(path, sha)
    except (AudioError, OSError) as exc:
        row.status, row.reason = FAILED, str(exc)
        return row
    row.status, row.reason = OK, ""
    row.sha256, row.clip_id = sha, sha[:16]
    row.duration, row.sample_rate, row.channels, row.format = (
        round(info.duration, 3), info.sample_rate, info.channels, info.format
    )
    return row


@dataclass
class IngestSummary:
    """Counts by status and by label, and the reasons of failures."""

    source: str
    by_status: Counter[str] = field(default_factory=Counter)
    by_label: Counter[str] = field(default_factory=Counter)
    failures: list[tuple[str, str]] = field(default_factory=list)
    skipped: int = 0
    duplicates: list[str] = field(default_factory=list)
    network_failures: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # things the user should know that are no item's failure

    def add(self, row: CatalogRow, network: bool = False) -> None:
        """Count ``row``; ``network`` marks a failure that a later retry may fix."""
        self.by_status[row.status] += 1
        if row.status == OK:
            self.by_label[row.label] += 1
        elif row.status == FAILED:
            self.failures.append((row.source_id, row.reason))
            if network:
                self.network_failures.append(row.source_id)

    def markdown(self) -> str:
        lines = [f"### Ingest of `{self.source}`", "", "| status | clips |", "|---|---|"]
        lines += [f"| {k} | {v} |" for k, v in sorted(self.by_status.items())]
        if self.skipped:
            lines.append(f"| already done (skipped) | {self.skipped} |")
        if self.duplicates:
            lines.append(f"| duplicate entries (ignored) | {len(self.duplicates)} |")
        lines += ["", "| label | clips |", "|---|---|"]
        lines += [f"| {k} | {v} |" for k, v in sorted(self.by_label.items())]
        if self.failures:
            lines += ["", "| failed item | reason |", "|---|---|"]
            lines += [f"| {s} | {r.replace('|', '/')} |" for s, r in self.failures]
        if self.duplicates:
            lines += ["", "Ignored duplicates:", *(f"- {note}" for note in self.duplicates)]
        if self.notes:
            lines += ["", "Notes:", *(f"- {note}" for note in self.notes)]
        return "\n".join(lines)

    def __str__(self) -> str:
        status = ", ".join(f"{k}: {v}" for k, v in sorted(self.by_status.items()))
        text = f"ingest {self.source}: {status or 'nothing new'}"
        if self.skipped:
            text += f" ({self.skipped} already done)"
        if self.duplicates:
            text += f" ({len(self.duplicates)} duplicate entries ignored)"
        if self.by_label:
            text += "\n  by label: " + ", ".join(f"{k}: {v}" for k, v in sorted(self.by_label.items()))
        for item, reason in self.failures:
            text += f"\n  failed {item}: {reason}"
        for note in self.duplicates:
            text += f"\n  ignored: {note}"
        for note in self.notes:
            text += f"\n  note: {note}"
        return text


def source_kind(path: str | Path) -> str:
    """``folder``, ``audioset`` (a segment CSV: ``# YTID, ...`` header comment) or ``manifest``."""
    path = Path(path)
    if path.is_dir():
        return "folder"
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist: give a folder, a manifest CSV or an AudioSet segment CSV")
    with open(path, encoding="utf-8-sig", errors="replace") as f:
        head = [line for _, line in zip(range(5), f)]
    return "audioset" if any(line.startswith("#") and "YTID" in line for line in head) else "manifest"
