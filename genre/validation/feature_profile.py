"""Per-column ranges of the segment features, learnt on training data and saved with the model.

Validation checks held-out features against them (one GX expectation per column), and
serving can check its inputs the same way: a value outside ``[low, high]`` is one the
model never saw anything like.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from genre.atomic import write_json

PROFILE_FILE = "feature_profile.json"


@dataclass(frozen=True)
class FeatureProfile:
    """Names and ranges of the feature columns a model was trained on."""

    names: list[str]
    low: list[float]
    high: list[float]
    rows: int
    margin: float

    @classmethod
    def learn(cls, features: np.ndarray, names: list[str], margin: float = 0.1) -> FeatureProfile:
        """Training min/max per column, widened by ``margin`` times the column's span on each side."""
        x = np.asarray(features, dtype=np.float64)
        if x.ndim != 2 or x.shape[1] != len(names) or len(x) == 0:
            raise ValueError(f"need a non-empty (rows, {len(names)}) feature matrix, got shape {x.shape}")
        lo, hi = x.min(axis=0), x.max(axis=0)
        pad = margin * (hi - lo)
        return cls(list(names), (lo - pad).tolist(), (hi + pad).tolist(), len(x), margin)

    def outside(self, features: np.ndarray, share: float = 0.5) -> list[str]:
        """Columns outside their training range in more than ``share`` of the rows (segments)."""
        x = np.asarray(features, dtype=np.float64)
        out = (x < np.asarray(self.low)) | (x > np.asarray(self.high))
        return [name for name, frac in zip(self.names, out.mean(axis=0)) if frac > share]

    def save(self, folder: str | Path) -> Path:
        path = Path(folder) / PROFILE_FILE
        write_json(path, {"names": self.names, "low": self.low, "high": self.high, "rows": self.rows,
                          "margin": self.margin})
        return path

    @classmethod
    def load(cls, folder: str | Path) -> FeatureProfile | None:
        """The profile saved in ``folder``, or None for a folder written before profiles existed."""
        path = Path(folder) / PROFILE_FILE
        if not path.is_file():
            return None
        data = json.loads(path.read_text())
        return cls(data["names"], data["low"], data["high"], data["rows"], data["margin"])
