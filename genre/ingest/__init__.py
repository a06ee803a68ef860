"""Bringing labelled audio into the store and the catalog: folders, URL manifests and AudioSet."""

from genre.ingest.audioset import ingest_audioset
from genre.ingest.common import IngestSummary, ingest_file, normalise_label, source_kind
from genre.ingest.folder import ingest_folder
from genre.ingest.manifest import ingest_manifest

__all__ = ["IngestSummary", "ingest_audioset", "ingest_file", "ingest_folder", "ingest_manifest",
           "normalise_label", "source_kind"]
