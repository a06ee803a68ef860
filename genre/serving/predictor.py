"""The one predictor, audio -> genre probabilities, used by evaluation and by serving alike."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import joblib
import numpy as np

from genre.atomic import atomic_path, write_json
from genre.config import FeatureConfig
from genre.data.audio import check_signal, load
from genre.features.extractor import ClipFeatures, clip_features, versions
from genre.validation.feature_profile import FeatureProfile

CLASSICAL_FILE = "classical.joblib"
CNN_FILE = "cnn.keras"
META_FILE = "predictor.json"


class IncompatibleModel(ValueError):
    """A saved predictor whose features this code no longer computes the same way; the message says what to do."""


@dataclass(frozen=True)
class Classification:
    """One clip's genre probabilities and the features outside the model's training ranges."""

    probabilities: dict[str, float]
    unusual_features: list[str]

    @property
    def genre(self) -> str:
        return max(self.probabilities, key=self.probabilities.get)


@dataclass
class Predictor:
    """Best classical model and VGG16, averaged with weight ``cnn_weight`` on the CNN."""

    labels: list[str]
    features: FeatureConfig
    classical: Any
    classical_name: str
    cnn: Any | None = None
    cnn_weight: float = 0.0
    image_size: int = 64
    info: dict[str, Any] = field(default_factory=dict)
    profile: FeatureProfile | None = None  # training ranges of the features, for checking inputs

    def components(self, features: np.ndarray, mels: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """Segment probabilities of the classical model and of the CNN (None without one)."""
        from genre.models import vgg16
        from genre.models.classical import predict_proba

        p_classical = predict_proba(self.classical, features, len(self.labels))
        p_cnn = None
        if self.cnn is not None:
            p_cnn = vgg16.predict(self.cnn, mels, self.image_size, self.features.top_db)
        return p_classical, p_cnn

    def combine(self, p_classical: np.ndarray, p_cnn: np.ndarray | None) -> np.ndarray:
        if p_cnn is None or self.cnn_weight == 0.0:
            return p_classical
        return (1.0 - self.cnn_weight) * p_classical + self.cnn_weight * p_cnn

    def predict_segments(self, features: np.ndarray, mels: np.ndarray) -> np.ndarray:
        """(n_segments, n_labels) ensemble probabilities."""
        return self.combine(*self.components(features, mels))

    def classify_signal(self, y: np.ndarray, name: str = "audio") -> Classification:
        """Probabilities per genre of one decoded signal at ``features.sample_rate``, and its unusual features."""
        check_signal(y, self.features.sample_rate, name, min_seconds=self.features.min_seconds)
        clip: ClipFeatures = clip_features(y, self.features)
        probs = self.predict_segments(clip.features, clip.mels).mean(axis=0)
        unusual = self.profile.outside(clip.features) if self.profile is not None else []
        return Classification({label: float(p) for label, p in zip(self.labels, probs)}, unusual)

    def classify_file(self, path: str | Path) -> Classification:
        """Decode ``path`` and classify it; raises ``AudioError`` for unusable audio."""
        return self.classify_signal(load(path, self.features.sample_rate), Path(path).name)

    def save(self, folder: str | Path) -> Path:
        """Write the models, metadata and the feature profile (if any) into ``folder``."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        with atomic_path(folder / CLASSICAL_FILE) as tmp:
            joblib.dump(self.classical, tmp)
        if self.cnn is not None:
            with atomic_path(folder / CNN_FILE, suffix=".keras") as tmp:
                self.cnn.save(tmp)
        write_json(folder / META_FILE, {
            "labels": self.labels, "features": self.features.model_dump(mode="json"),
            "classical_name": self.classical_name, "cnn_weight": self.cnn_weight,
            "image_size": self.image_size, "has_cnn": self.cnn is not None, "info": self.info,
            "feature_versions": versions(),
        })
        if self.profile is not None:
            self.profile.save(folder)
        return folder

    @classmethod
    def load(cls, folder: str | Path) -> Predictor:
        """Read a predictor written by :meth:`save`; :class:`IncompatibleModel` if its features changed since."""
        folder = Path(folder)
        meta = json.loads((folder / META_FILE).read_text())
        saved = meta.get("feature_versions", {"features": 1, "mels": 1})  # predictors before versions were saved
        if saved != versions():
            raise IncompatibleModel(
                f"the model in {folder} was trained on feature extractor versions {saved}, but this code computes "
                f"{versions()}: its inputs would not mean what it learnt. Retrain it (`genre run`) and serve the "
                "new champion.")
        model = None
        if meta["has_cnn"]:
            import keras

            model = keras.saving.load_model(folder / CNN_FILE, compile=False)
        return cls(
            labels=meta["labels"], features=FeatureConfig(**meta["features"]),
            classical=joblib.load(folder / CLASSICAL_FILE), classical_name=meta["classical_name"],
            cnn=model, cnn_weight=meta["cnn_weight"], image_size=meta["image_size"], info=meta.get("info", {}),
            profile=FeatureProfile.load(folder),
        )
