"""Tuned classical models kept on disk under content hashes, so a rerun of a killed or failed run refits none of
the models it had finished.

A model's key hashes the training split's content (the feature set's rows of the split's clips: features, labels,
clip ids, CV groups; see ``Split.digest``), the classical config (its ``models`` list aside: adding a model leaves
the others' keys alone), the model's name and the versions of scikit-learn and XGBoost. Equal keys mean the search
and refit would compute the same model, so the stored one is loaded instead.
"""

from __future__ import annotations

import hashlib
import json
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import joblib

from genre.atomic import atomic_path
from genre.config import ClassicalConfig
from genre.models.classical import Fitted


def _version(package: str) -> str:
    try:
        return version(package)
    except PackageNotFoundError:
        return "absent"


class ClassicalCache:
    """``<root>/<key[:2]>/<key>.joblib``: one fitted model (with its CV scores and out-of-fold predictions) per key."""

    def __init__(self, root: str | Path, data_digest: str, cfg: ClassicalConfig) -> None:
        self.root = Path(root)
        self.base = {"data": data_digest, "cfg": cfg.model_dump(mode="json", exclude={"models"}),
                     "versions": {p: _version(p) for p in ("scikit-learn", "xgboost")}}

    def key(self, name: str) -> str:
        blob = json.dumps({**self.base, "model": name}, sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()

    def path(self, name: str) -> Path:
        key = self.key(name)
        return self.root / key[:2] / f"{key}.joblib"

    def load(self, name: str) -> Fitted | None:
        """The stored model of ``name``, or None when this data and config never finished it."""
        path = self.path(name)
        return joblib.load(path) if path.is_file() else None

    def save(self, fitted: Fitted) -> Path:
        """Store ``fitted`` atomically: a killed write leaves no half file under the key."""
        path = self.path(fitted.name)
        with atomic_path(path, suffix=".joblib") as tmp:
            joblib.dump(fitted, tmp)
        return path
