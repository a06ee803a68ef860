"""librosa imported once per process, its numba kernels compiled by one process of the machine at a time."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from genre.atomic import locked
from genre.config import FeatureConfig

_librosa: Any = None


def import_librosa() -> Any:
    """librosa, imported and its numba kernels compiled by one process of the machine at a time.

    numba writes its on-disk cache without a lock, and processes compiling the same kernel at once can leave
    a cache that crashes the next process to read it (numba issues 4807 and 10128). Pool, Dask and service
    workers all import librosa through here: the first compiles on a clip of noise, the others read its cache.
    """
    global _librosa
    if _librosa is None:
        with locked(Path(tempfile.gettempdir()) / f"genre-numba-{os.getuid()}"):
            import librosa

            _librosa = librosa
            try:
                from genre.features.extractor import _segment_features, analyse, clip_mel_db

                cfg = FeatureConfig()
                noise = np.random.default_rng(0).standard_normal(int(cfg.segment_seconds * cfg.sample_rate))
                sp = analyse(0.1 * noise.astype(np.float32), cfg)
                _segment_features(sp)
                clip_mel_db(sp)
            except BaseException:
                _librosa = None
                raise
    return _librosa
