"""The one predictor, audio -> genre probabilities, used by evaluation and by serving alike."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import joblib
import numpy as np

from genre.atomic import atomic_path, write_json
from genre.config import FeatureConfig, PretrainedConfig
from genre.data.audio import check_signal, load
from genre.features import pretrained as musicnn
from genre.features.extractor import analyse, segment_features, segment_mels, versions
from genre.metrics.scores import clip_mean
from genre.models.ensemble import Combiner
from genre.serving.reference import Reference
from genre.validation.feature_profile import FeatureProfile

CLASSICAL_FILE = "classical.joblib"
PRETRAINED_DIR = "pretrained"  # the pretrained member's checkpoint, copied into the saved model
CNN_FILE = "cnn.keras"
META_FILE = "predictor.json"
FORMAT = 3  # 3: and an optional pretrained member; 2: members and a combiner (1: one classical model + VGG16)
READS = (2, 3)  # formats this code loads (a 2 has no pretrained member)
NETWORK = "vgg16"  # the member name of the network
PRETRAINED = musicnn.MEMBER  # the member name of the pretrained network's head
ENSEMBLE = "ensemble"  # the key of the ensemble's probabilities beside the members'


class IncompatibleModel(ValueError):
    """A saved predictor whose features this code no longer computes the same way; the message says what to do."""


@dataclass(frozen=True)
class SegmentProbabilities:
    """The ensemble's probabilities for one segment, from ``start`` to ``end`` seconds into the signal."""

    start: float
    end: float
    probabilities: dict[str, float]


@dataclass(frozen=True)
class Classification:
    """One clip's genre probabilities and the features outside the model's training ranges."""

    probabilities: dict[str, float]
    unusual_features: list[str]
    seconds: float = 0.0  # of audio analysed
    segments: list[SegmentProbabilities] = field(default_factory=list)
    features: list[float] = field(default_factory=list)  # the clip's mean feature vector (for the prediction log)

    @property
    def genre(self) -> str:
        return max(self.probabilities, key=self.probabilities.get)


@dataclass
class Predictor:
    """The ensemble: classical members, the pretrained member (a head on musicnn embeddings) and VGG16, combined as
    ``combiner`` says (one member, an average, stacking)."""

    labels: list[str]
    features: FeatureConfig
    classical: dict[str, Any]  # member name -> fitted scikit-learn pipeline
    combiner: Combiner
    cnn: Any | None = None
    image_size: int = 64
    info: dict[str, Any] = field(default_factory=dict)
    profile: FeatureProfile | None = None  # training ranges of the features, for checking inputs
    reference: Reference | None = None  # training clips' mean features and genre shares, for drift checks
    pretrained: PretrainedConfig | None = None  # checkpoint and layer of the PRETRAINED member's embeddings
    pretrained_dir: str | None = None  # where a loaded model's copy of the checkpoint is (None: the musicnn wheel)

    @property
    def members(self) -> list[str]:
        return self.combiner.members

    def member_probs(self, features: np.ndarray, mels: np.ndarray,
                     embeddings: np.ndarray | None = None) -> dict[str, np.ndarray]:
        """Segment probabilities of each member (``embeddings``: the PRETRAINED member's input, when a member)."""
        from genre.models import vgg16
        from genre.models.classical import predict_proba

        out = {}
        for name in self.members:
            if name == NETWORK:
                out[name] = vgg16.predict(self.cnn, mels, self.image_size, self.features.top_db)
            elif name == PRETRAINED:
                if embeddings is None:
                    raise ValueError(f"the {PRETRAINED} member needs the segments' pretrained embeddings")
                out[name] = predict_proba(self.classical[name], embeddings, len(self.labels))
            else:
                out[name] = predict_proba(self.classical[name], features, len(self.labels))
        return out

    def predict_segments(self, features: np.ndarray, mels: np.ndarray,
                         embeddings: np.ndarray | None = None) -> np.ndarray:
        """(n_segments, n_labels) ensemble probabilities of each segment on its own."""
        return self.combiner.combine(self.member_probs(features, mels, embeddings))

    def predict_clips(self, features: np.ndarray, mels: np.ndarray, clips: np.ndarray,
                      embeddings: np.ndarray | None = None) -> dict[str, np.ndarray]:
        """Clip probabilities (rows in first-seen clip order) of each member and of the ensemble (key ``ENSEMBLE``):
        a member's clip is the mean of its segments, and the ensemble combines the members' clips."""
        per_member = {name: clip_mean(p, clips)[1]
                      for name, p in self.member_probs(features, mels, embeddings).items()}
        return {**per_member, ENSEMBLE: self.combiner.combine(per_member)}

    def classify_signal(self, y: np.ndarray, name: str = "audio") -> Classification:
        """Probabilities per genre of one decoded signal at ``features.sample_rate``, and its unusual features."""
        rate = self.features.sample_rate
        check_signal(y, rate, name, min_seconds=self.features.min_seconds)
        spectra = analyse(y, self.features)
        features = segment_features(spectra)
        embeddings = (musicnn.segment_embeddings(y, self.features, self.pretrained, self.pretrained_dir)
                      if PRETRAINED in self.members and self.pretrained is not None else None)
        members = self.member_probs(features, segment_mels(spectra), embeddings)
        # the clip: members' segment means, combined (as predict_clips does); each segment: members' rows, combined
        one_clip = np.zeros(len(features))
        probs = self.combiner.combine({k: clip_mean(p, one_clip)[1] for k, p in members.items()})[0]
        segments = [SegmentProbabilities(round(a / rate, 3), round(min(b, len(y)) / rate, 3), self._named(row))
                    for (a, b), row in zip(spectra.segments, self.combiner.combine(members))]
        unusual = self.profile.outside(features) if self.profile is not None else []
        return Classification(self._named(probs), unusual, round(len(y) / rate, 3), segments,
                              features.mean(axis=0).tolist())

    def _named(self, probs: np.ndarray) -> dict[str, float]:
        return {label: float(p) for label, p in zip(self.labels, probs)}

    def decode(self, path: str | Path, max_seconds: float | None = None) -> tuple[np.ndarray, bool]:
        """The signal of ``path`` at ``features.sample_rate``, at most its first ``max_seconds``, and whether it
        was longer (decoding stops a second past the limit); raises ``AudioError`` for unusable audio."""
        rate = self.features.sample_rate
        if max_seconds is None:
            return load(path, rate), False
        keep = int(max_seconds * rate)
        y = load(path, rate, max_seconds=max_seconds + 1.0)
        return y[:keep], len(y) > keep + rate // 100  # a resampler's rounding is not a longer file

    def classify_file(self, path: str | Path) -> Classification:
        """Decode ``path`` and classify it; raises ``AudioError`` for unusable audio."""
        return self.classify_signal(load(path, self.features.sample_rate), Path(path).name)

    def save(self, folder: str | Path) -> Path:
        """Write the models, the combiner, metadata, the feature profile and the reference (if any) into ``folder``."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        with atomic_path(folder / CLASSICAL_FILE) as tmp:
            joblib.dump({"members": self.classical, "combiner": self.combiner}, tmp)
        if self.cnn is not None:
            with atomic_path(folder / CNN_FILE, suffix=".keras") as tmp:
                self.cnn.save(tmp)
        write_json(folder / META_FILE, {
            "labels": self.labels, "features": self.features.model_dump(mode="json"),
            "members": self.members, "ensemble": self.combiner.describe(), "method": self.combiner.method,
            "image_size": self.image_size, "has_cnn": self.cnn is not None, "info": self.info,
            "feature_versions": versions(), "format": FORMAT,
            **({} if self.pretrained is None else {"pretrained": {**self.pretrained.model_dump(mode="json"),
                                                                  "version": musicnn.EMBEDDINGS_VERSION}}),
        })
        if self.profile is not None:
            self.profile.save(folder)
        if self.reference is not None:
            self.reference.save(folder)
        if self.pretrained is not None and PRETRAINED in self.members:
            musicnn.copy_checkpoint(self.pretrained.checkpoint, folder / PRETRAINED_DIR)
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
        if meta.get("format") not in READS:
            raise IncompatibleModel(f"the model in {folder} was saved in an older format (one classical model and a "
                                    "VGG16 weight): retrain it (`genre run`) and serve the new champion.")
        pretrained = meta.get("pretrained")
        if pretrained is not None:
            if pretrained.pop("version", None) != musicnn.EMBEDDINGS_VERSION:
                raise IncompatibleModel(f"the model in {folder} learnt from pretrained embeddings this code no longer "
                                        "computes the same way: retrain it (`genre run`) and serve the new champion.")
            pretrained.setdefault("patch_every", 1)  # saved before the key existed: a patch at every segment
            pretrained = PretrainedConfig(**pretrained)
        parts = joblib.load(folder / CLASSICAL_FILE)
        if PRETRAINED in parts["combiner"].members and (
                reason := musicnn.unavailable(pretrained, str(folder / PRETRAINED_DIR))):
            raise IncompatibleModel(f"the model in {folder} needs its pretrained network: {reason}")
        model = None
        if meta["has_cnn"]:
            import keras

            model = keras.saving.load_model(folder / CNN_FILE, compile=False)
        return cls(
            labels=meta["labels"], features=FeatureConfig(**meta["features"]), classical=parts["members"],
            combiner=parts["combiner"], cnn=model, image_size=meta["image_size"], info=meta.get("info", {}),
            profile=FeatureProfile.load(folder), reference=Reference.load(folder), pretrained=pretrained,
            pretrained_dir=str(folder / PRETRAINED_DIR) if pretrained is not None else None,
        )
