"""Mel-spectrogram images straight from arrays: a colormap lookup and a resize, no figures.

The same RGB images are written as PNG for people and fed to VGG16.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image

from genre.atomic import atomic_path


@lru_cache(maxsize=4)
def _lut(cmap: str) -> np.ndarray:
    from matplotlib import colormaps

    return (colormaps[cmap](np.linspace(0, 1, 256))[:, :3] * 255).astype(np.uint8)


def to_rgb(mel_db: np.ndarray, size: int | tuple[int, int], top_db: float = 80.0, cmap: str = "magma") -> np.ndarray:
    """(n_mels, frames) dB in [-top_db, 0] -> (height, width, 3) uint8, low frequencies at the bottom.

    ``size`` is the side of a square image or (width, height).
    """
    width, height = (size, size) if isinstance(size, int) else size
    level = np.clip((mel_db.astype(np.float32) + top_db) * (255.0 / top_db), 0.0, 255.0)
    rgb = _lut(cmap)[level[::-1].astype(np.uint8)]
    return np.asarray(Image.fromarray(rgb).resize((width, height), Image.Resampling.BILINEAR))


def batch_rgb(mels: np.ndarray, size: int, top_db: float = 80.0) -> np.ndarray:
    """(n, n_mels, frames) -> (n, size, size, 3) uint8."""
    out = np.empty((len(mels), size, size, 3), dtype=np.uint8)
    for i, m in enumerate(mels):
        out[i] = to_rgb(m, size, top_db)
    return out


def save_png(mel_db: np.ndarray, path: str | Path, size: int | tuple[int, int] = 256, top_db: float = 80.0,
             cmap: str = "magma") -> Path:
    """Write one spectrogram as a PNG image (fast zlib level 1), atomically."""
    path = Path(path)
    with atomic_path(path, suffix=".png") as tmp:
        Image.fromarray(to_rgb(mel_db, size, top_db, cmap)).save(tmp, format="PNG", compress_level=1)
    return path
