"""AudioSet: segment CSVs and the label index, mapped to genres and handed to the manifest downloader.

Segment CSVs (``balanced_train_segments.csv``, ``eval_segments.csv``, ...) hold ``# comment`` lines
and ``YTID, start_seconds, end_seconds, "positive_labels"`` rows, the labels being ontology ids
(``/m/064t9``). ``class_labels_indices.csv`` names them (``Pop music``). A configurable mapping
(:class:`genre.config.AudioSetConfig`) turns display names into genres. A clip whose tags map to
two or more genres is ambiguous: ``multi_label="drop"`` (default) leaves it out, ``"first"``
gives it the genre listed first in the mapping.
"""

from __future__ import annotations

import csv
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from genre.config import AudioSetConfig, IngestConfig
from genre.data.catalog import Catalog
from genre.data.ingest.common import IngestSummary, normalise_label
from genre.data.ingest.manifest import YOUTUBE_ID, ManifestItem, ingest_items
from genre.data.store import BlobStore

LABEL_INDEX = "class_labels_indices.csv"


@dataclass(frozen=True)
class Segment:
    """One AudioSet row: a 10 s (or shorter) stretch of a YouTube video and its ontology ids."""

    ytid: str
    start: float
    end: float
    labels: tuple[str, ...]


@dataclass
class Mapping:
    """Items to fetch and how the segments were sorted out."""

    items: list[ManifestItem] = field(default_factory=list)
    invalid: list[str] = field(default_factory=list)  # malformed lines, with the reason
    ambiguous: int = 0  # tagged with two or more genres and dropped
    unmapped: int = 0  # no tag maps to a genre
    capped: int = 0  # left out by ``per_genre``
    by_genre: Counter[str] = field(default_factory=Counter)

    def __str__(self) -> str:
        genres = ", ".join(f"{k}: {v}" for k, v in sorted(self.by_genre.items()))
        text = (f"{len(self.items)} segments to fetch ({genres}); left out: {self.ambiguous} ambiguous, "
                f"{self.unmapped} with no mapped genre, {self.capped} over the per-genre cap, "
                f"{len(self.invalid)} malformed")
        return "\n  ".join([text, *self.invalid[:20]])


def read_segments(path: str | Path) -> tuple[list[Segment], list[str]]:
    """Parse a segment CSV: the segments, and one message per malformed line (which is skipped)."""
    path = Path(path)
    segments, problems = [], []
    with open(path, newline="", encoding="utf-8-sig") as f:  # Excel writes a BOM
        for number, line in enumerate(f, start=1):
            if not line.strip() or line.startswith("#"):
                continue
            row = next(csv.reader([line], skipinitialspace=True))
            try:
                ytid, start, end, labels = row
                segment = Segment(ytid.strip(), float(start), float(end),
                                  tuple(m.strip() for m in labels.split(",") if m.strip()))
                if not YOUTUBE_ID.fullmatch(segment.ytid):
                    raise ValueError(f"{segment.ytid!r} is not a YouTube id")
                if not 0 <= segment.start < segment.end:
                    raise ValueError(f"bad time range {start}-{end}")
            except ValueError as exc:
                problems.append(f"{path.name}:{number}: skipped ({exc})")
                continue
            segments.append(segment)
    return segments, problems


def read_label_index(path: str | Path) -> dict[str, str]:
    """``class_labels_indices.csv`` as {ontology id: display name}."""
    with open(path, newline="", encoding="utf-8-sig") as f:  # Excel writes a BOM
        reader = csv.DictReader(f)
        if not reader.fieldnames or not {"mid", "display_name"} <= set(reader.fieldnames):
            raise ValueError(f"{path}: a label index needs the columns 'mid' and 'display_name'")
        return {row["mid"]: row["display_name"] for row in reader}


def map_segments(segments: list[Segment], index: dict[str, str], cfg: AudioSetConfig, youtube_url: str,
                 per_genre: int | None = None) -> Mapping:
    """Give each segment a genre by the mapping and the multi-label rule, and make it a download item."""
    known = set(index.values())
    unknown = [name for name in cfg.genres if name not in known]
    if unknown:
        raise ValueError(f"audioset.genres names classes that are not in the label index: {unknown}")
    genre_of = {mid: normalise_label(cfg.genres[name]) for mid, name in index.items() if name in cfg.genres}
    priority = {g: i for i, g in enumerate(dict.fromkeys(normalise_label(g) for g in cfg.genres.values()))}
    result = Mapping()
    for seg in segments:
        genres = sorted({genre_of[m] for m in seg.labels if m in genre_of}, key=priority.__getitem__)
        if not genres:
            result.unmapped += 1
            continue
        if len(genres) > 1 and cfg.multi_label == "drop":
            result.ambiguous += 1
            continue
        genre = genres[0]
        if per_genre is not None and result.by_genre[genre] >= per_genre:
            result.capped += 1
            continue
        result.by_genre[genre] += 1
        result.items.append(ManifestItem(f"youtube:{seg.ytid}#t={seg.start:g},{seg.end:g}",
                                         youtube_url.format(ytid=seg.ytid), genre, seg.start, seg.end))
    return result


def ingest_audioset(segments_csv: str | Path, store: BlobStore, catalog: Catalog, ingest: IngestConfig,
                    audioset: AudioSetConfig, work_dir: str | Path, index_csv: str | Path | None = None,
                    per_genre: int | None = None, progress: bool = True) -> tuple[IngestSummary, Mapping]:
    """Map an AudioSet segment CSV to genres and download the segments (``ingest.youtube_url`` says from where).

    The label index defaults to ``class_labels_indices.csv`` beside the segment CSV.
    """
    segments_csv = Path(segments_csv)
    index_csv = Path(index_csv) if index_csv else segments_csv.with_name(LABEL_INDEX)
    for path in (segments_csv, index_csv):
        if not path.is_file():
            raise FileNotFoundError(f"{path} does not exist (AudioSet CSVs: research.google.com/audioset/download)")
    segments, problems = read_segments(segments_csv)
    mapping = map_segments(segments, read_label_index(index_csv), audioset, ingest.youtube_url, per_genre)
    mapping.invalid = problems
    source = f"audioset:{segments_csv.stem}"
    summary = ingest_items(mapping.items, source, store, catalog, ingest, work_dir, progress)
    return summary, mapping
