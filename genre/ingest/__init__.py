"""Bringing labelled audio into the store and the catalog."""

from genre.ingest.common import IngestSummary, ingest_file, normalise_label
from genre.ingest.folder import ingest_folder

__all__ = ["IngestSummary", "ingest_file", "ingest_folder", "normalise_label"]
