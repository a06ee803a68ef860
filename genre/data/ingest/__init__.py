"""Bringing labelled audio into the store and the catalog: folders, URL manifests and AudioSet."""

from genre.data.ingest.audioset import ingest_audioset
from genre.data.ingest.common import IngestSummary, ingest_file, normalise_label, source_kind
from genre.data.ingest.folder import ingest_folder, source_name
from genre.data.ingest.manifest import ingest_manifest

__all__ = ["IngestSummary", "ingest_audioset", "ingest_file", "ingest_folder", "ingest_manifest",
           "normalise_label", "source_kind", "source_name"]
