"""Mel-spectrogram images straight from arrays: dB -> 8-bit levels -> resize -> colormap, no figures.

The same images are written as PNG for people (palette PNGs: one byte per pixel plus the
colormap, so they encode several times faster than RGB) and fed to VGG16 as RGB arrays.
Levels are resized before the colormap is applied, so interpolation happens in dB, not in colour.
"""

from __future__ import annotations

import zlib
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image

from genre.atomic import atomic_path


@lru_cache(maxsize=4)
def _lut(cmap: str) -> np.ndarray:
    from matplotlib import colormaps

    return (colormaps[cmap](np.linspace(0, 1, 256))[:, :3] * 255).astype(np.uint8)


def _size(size: int | tuple[int, int]) -> tuple[int, int]:
    return (size, size) if isinstance(size, int) else size


def to_levels(mel_db: np.ndarray, size: int | tuple[int, int], top_db: float = 80.0) -> Image.Image:
    """(n_mels, frames) dB in [-top_db, 0] -> 8-bit greyscale image of ``size``, low frequencies at the bottom.

    ``size`` is the side of a square image or (width, height).
    """
    level = np.clip((mel_db.astype(np.float32) + top_db) * (255.0 / top_db), 0.0, 255.0)
    return Image.fromarray(level[::-1].astype(np.uint8)).resize(_size(size), Image.Resampling.BILINEAR)


def to_rgb(mel_db: np.ndarray, size: int | tuple[int, int], top_db: float = 80.0, cmap: str = "magma") -> np.ndarray:
    """(n_mels, frames) dB -> (height, width, 3) uint8 through the colormap ``cmap``."""
    return _lut(cmap)[np.asarray(to_levels(mel_db, size, top_db))]


def batch_rgb(mels: np.ndarray, size: int, top_db: float = 80.0) -> np.ndarray:
    """(n, n_mels, frames) -> (n, size, size, 3) uint8."""
    out = np.empty((len(mels), size, size, 3), dtype=np.uint8)
    for i, m in enumerate(mels):
        out[i] = to_rgb(m, size, top_db)
    return out


def save_png(mel_db: np.ndarray, path: str | Path, size: int | tuple[int, int] = 256, top_db: float = 80.0,
             cmap: str = "magma") -> Path:
    """Write one spectrogram as a palette PNG, atomically.

    zlib's run-length strategy at level 1 encodes about twice as fast as the default strategy,
    for files a few percent larger.
    """
    path = Path(path)
    image = to_levels(mel_db, size, top_db)
    image.putpalette(_lut(cmap).tobytes())
    with atomic_path(path, suffix=".png") as tmp:
        image.save(tmp, format="PNG", compress_level=1, compress_type=zlib.Z_RLE)
    return path
