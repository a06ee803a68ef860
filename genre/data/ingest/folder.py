"""Ingest ``<root>/<genre>/*.<audio>``: labels from folder names."""

from __future__ import annotations

import csv
from pathlib import Path

from tqdm.auto import tqdm

from genre.atomic import remove_orphans
from genre.config import IngestConfig
from genre.data.audio import AUDIO_EXTENSIONS
from genre.data.catalog import FAILED, Catalog, CatalogRow
from genre.data.ingest.common import IngestSummary, ingest_file, normalise_label
from genre.data.store import BlobStore, sha256_file


def read_label_overrides(path: str | Path) -> dict[str, str]:
    """``file,label`` CSV (UTF-8, with or without a BOM): file paths relative to the root mapped to raw labels."""
    with open(path, newline="", encoding="utf-8-sig") as f:
        reader = csv.DictReader(f)
        if not reader.fieldnames or not {"file", "label"} <= {n.strip() for n in reader.fieldnames}:
            raise ValueError(f"{path}: a labels CSV needs the columns 'file' and 'label'")
        rows = [{k.strip(): (v or "").strip() for k, v in row.items() if k} for row in reader]
    return {row["file"]: row["label"] for row in rows}


def source_name(root: str | Path) -> str:
    """The catalog's name of a folder source: ``folder:`` and its absolute path."""
    return f"folder:{Path(root).resolve().as_posix()}"


def _audio_files(root: Path) -> list[Path]:
    """Every file below ``root`` at any depth, hidden files and folders left out."""
    return sorted(p for p in root.rglob("*")
                  if p.is_file() and not any(part.startswith(".") for part in p.relative_to(root).parts))


def ingest_folder(
    root: str | Path,
    store: BlobStore,
    catalog: Catalog,
    limits: IngestConfig = IngestConfig(),
    labels_csv: str | Path | None = None,
    progress: bool = True,
) -> IngestSummary:
    """Store every audio file below ``root/<genre>/`` (at any depth) and record it in the catalog.

    The source is the folder's absolute path, so two datasets in folders of the same name stay apart.
    Idempotent: an item already ingested with the same content and label is skipped; a replaced file or a
    new label (from the folder or ``labels_csv``) is ingested again.
    """
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"data folder {root} does not exist; give a folder laid out as <root>/<genre>/<clip>")
    overrides = read_label_overrides(labels_csv) if labels_csv else {}
    source = source_name(root)
    remove_orphans(store.root)  # temporary files of a killed run
    summary = IngestSummary(source)
    done = catalog.done_items(source)
    files = _audio_files(root)
    if not files:
        raise FileNotFoundError(f"{root} holds no <genre>/<clip> files")
    rels = [path.relative_to(root).as_posix() for path in files]
    unmatched = sorted(set(overrides) - set(rels))
    if unmatched:
        summary.notes.append(f"{len(unmatched)} row(s) of {labels_csv} match no file under {root}: "
                             + ", ".join(unmatched[:10]) + (" ..." if len(unmatched) > 10 else ""))
    rows = []
    for path, rel in tqdm(list(zip(files, rels)), desc="ingest", unit="clip", disable=not progress):
        row = _row(path, rel, source, overrides, done, store, limits)
        if row is None:
            summary.skipped += 1
            continue
        summary.add(row)
        rows.append(row)
        if len(rows) >= 64:
            catalog.upsert(rows)
            rows = []
    catalog.upsert(rows)
    return summary


def _row(path: Path, rel: str, source: str, overrides: dict[str, str], done: dict[str, tuple[str, str]],
         store: BlobStore, limits: IngestConfig) -> CatalogRow | None:
    """The catalog row of one file, failed with its reason where it cannot be used; None when already done."""
    row = CatalogRow(source=source, source_id=rel, label="")
    if "/" not in rel:
        row.status, row.reason = FAILED, f"{rel}: not inside a <genre> folder (expected <root>/<genre>/<clip>)"
        return row
    raw = overrides.get(rel) or rel.split("/")[0]
    try:
        row.label = normalise_label(raw)
    except ValueError as exc:
        row.status, row.reason = FAILED, f"{rel}: {exc}"
        return row
    if path.suffix.lower() not in AUDIO_EXTENSIONS:
        row.status, row.reason = FAILED, f"{rel}: unsupported file type {path.suffix or '(none)'}"
        return row
    if rel in done:
        try:
            if done[rel] == (sha256_file(path), row.label):
                return None
        except OSError as exc:
            row.status, row.reason = FAILED, f"{rel}: {exc}"
            return row
    return ingest_file(path, store, row, limits)
