"""Ingest ``<root>/<genre>/*.<audio>``: labels from folder names."""

from __future__ import annotations

import csv
from pathlib import Path

from tqdm.auto import tqdm

from genre.atomic import remove_orphans
from genre.config import IngestConfig
from genre.data.audio import AUDIO_EXTENSIONS
from genre.data.catalog import Catalog, CatalogRow
from genre.data.ingest.common import IngestSummary, ingest_file, normalise_label
from genre.data.store import BlobStore


def read_label_overrides(path: str | Path) -> dict[str, str]:
    """``file,label`` CSV: file paths relative to the root mapped to labels."""
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        if not reader.fieldnames or not {"file", "label"} <= set(reader.fieldnames):
            raise ValueError(f"{path}: a labels CSV needs the columns 'file' and 'label'")
        return {row["file"]: normalise_label(row["label"]) for row in reader}


def ingest_folder(
    root: str | Path,
    store: BlobStore,
    catalog: Catalog,
    limits: IngestConfig = IngestConfig(),
    labels_csv: str | Path | None = None,
    progress: bool = True,
) -> IngestSummary:
    """Store every audio file below ``root/<genre>/`` and record it in the catalog.

    Idempotent: items already ingested from this folder are skipped.
    """
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"data folder {root} does not exist; give a folder laid out as <root>/<genre>/<clip>")
    overrides = read_label_overrides(labels_csv) if labels_csv else {}
    source = f"folder:{root.resolve().name}"
    remove_orphans(store.root)  # temporary files of a killed run
    summary = IngestSummary(source)
    done = catalog.done(source)
    files = sorted(p for p in root.glob("*/*") if p.is_file() and not p.name.startswith("."))
    if not files:
        raise FileNotFoundError(f"{root} holds no <genre>/<clip> files")
    rows = []
    for path in tqdm(files, desc="ingest", unit="clip", disable=not progress):
        rel = path.relative_to(root).as_posix()
        if rel in done:
            summary.skipped += 1
            continue
        label = overrides.get(rel) or normalise_label(path.parent.name)
        row = CatalogRow(source=source, source_id=rel, label=label)
        if path.suffix.lower() not in AUDIO_EXTENSIONS:
            row.status, row.reason = "failed", f"{rel}: unsupported file type {path.suffix or '(none)'}"
        else:
            row = ingest_file(path, store, row, limits)
        summary.add(row)
        rows.append(row)
        if len(rows) >= 64:
            catalog.upsert(rows)
            rows = []
    catalog.upsert(rows)
    return summary
