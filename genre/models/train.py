"""Training: the classical models (each with out-of-fold predictions for the ensemble choice) and VGG16."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from genre.config import Config
from genre.features.dataset import FeatureSet
from genre.metrics.scores import Scores, clip_truth, score
from genre.models import classical
from genre.models.classical_cache import ClassicalCache
from genre.models.vgg16_training import Data, TrainedCNN, fit


@dataclass
class Split:
    """Segment features, mel images, integer labels and clip ids of one split.

    ``groups`` (one per segment) keeps cross-validation folds apart, e.g. by artist; None means by clip.
    ``E`` holds the pretrained network's embedding of each segment (None when the member is off).
    """

    X: np.ndarray
    mels: np.ndarray
    y: np.ndarray
    clips: np.ndarray
    groups: np.ndarray | None = None
    E: np.ndarray | None = None

    @classmethod
    def of(cls, fs: FeatureSet, assignment: dict[str, str], name: str, labels: list[str],
           groups: dict[str, str] | None = None) -> Split:
        """The segments of clips assigned to ``name``; ``groups`` maps clip id to its CV group (see cv_groups)."""
        mask = fs.table["clip_id"].map(assignment).eq(name).to_numpy()
        index = {label: i for i, label in enumerate(labels)}
        clips = fs.table.loc[mask, "clip_id"].to_numpy()
        return cls(
            X=fs.features()[mask], mels=fs.mels[mask],
            y=fs.table.loc[mask, "label"].map(index).to_numpy(dtype=np.int64),
            clips=clips, groups=None if groups is None else np.array([groups[c] for c in clips]),
            E=None if fs.embeddings is None else fs.embeddings[mask],
        )

    @property
    def cv_groups(self) -> np.ndarray:
        return self.clips if self.groups is None else self.groups

    def digest(self) -> str:
        """Content hash of what the classical models learn from: features, labels, clip ids and CV groups."""
        h = hashlib.sha256()
        for part in (self.X, self.y, self.clips.astype(str), self.cv_groups.astype(str)):
            h.update(f"{part.dtype}{part.shape}".encode())
            h.update(np.ascontiguousarray(part).tobytes())
        return h.hexdigest()

    def clip_scores(self, segment_probs: np.ndarray) -> Scores:
        """Clip-level metrics of segment probabilities (a clip is the mean of its segments)."""
        return score(*clip_truth(segment_probs, self.y, self.clips))


def cv_groups(clips: pd.DataFrame) -> dict[str, str]:
    """Clip id -> cross-validation group: the artist where the table knows one, else the recording the clip
    was cut from (sections of one recording stay together), else the clip itself."""
    artists = clips["artist"].fillna("") if "artist" in clips else pd.Series("", index=clips.index)
    recordings = clips["recording"].astype(str) if "recording" in clips else "clip:" + clips["clip_id"].astype(str)
    return {c: f"artist:{a}" if isinstance(a, str) and a.strip() else r
            for c, a, r in zip(clips["clip_id"], artists, recordings)}


@dataclass
class ClassicalResult:
    """Every tuned model with its validation scores; ``best`` wins on validation ROC-AUC.

    Without a validation split ``validation`` is empty and ``best`` wins on clip-level cross-validated ROC-AUC.
    ``skipped`` names the models that could not be trained on this data, with the reason; ``reused`` those loaded
    from the cache instead of fitted.
    """

    fitted: dict[str, classical.Fitted]
    validation: dict[str, Scores]
    best: str
    skipped: dict[str, str] = field(default_factory=dict)
    reused: list[str] = field(default_factory=list)


def train_classical(train: Split, val: Split | None, cfg: Config, progress: bool = True,
                    cache_dir: str | Path | None = None) -> ClassicalResult:
    """Tune each configured model on train (grouped, clip-level CV) and pick the best on validation.

    A model that cannot be trained on this data (e.g. too few clips of a class to calibrate the SVM on grouped
    folds) is skipped with its reason and the others go on; it is an error only when every model fails. With
    ``cache_dir`` each finished model is stored under a content hash (see genre.models.classical_cache) and a
    later call on the same training split and config loads it instead of fitting it again. With
    ``cfg.dask_address`` the searches' fits run on that Dask cluster (see classical.search_backend).
    """
    fitted, scores, skipped, reused = {}, {}, {}, []
    n_classes = int(train.y.max()) + 1
    cache = ClassicalCache(cache_dir, train.digest(), cfg.classical) if cache_dir is not None else None
    with classical.search_backend(cfg.dask_address) as cluster_jobs:  # a Dask address: the fits run there
        for name in cfg.classical.models:
            if cache is not None and (stored := cache.load(name)) is not None:
                fitted[name] = stored
                reused.append(name)
            else:
                try:
                    fitted[name] = classical.fit_model(name, train.X, train.y, train.clips, cfg.classical,
                                                       groups=train.cv_groups, n_jobs=cluster_jobs or cfg.workers,
                                                       progress=progress)
                except ValueError as exc:
                    skipped[name] = str(exc)
                    continue
                if cache is not None:
                    cache.save(fitted[name])
            if val is not None and len(val.y):
                scores[name] = val.clip_scores(classical.predict_proba(fitted[name].model, val.X, n_classes))
    if not fitted:
        raise ValueError("no classical model could be trained: " + "; ".join(f"{n}: {r}" for n, r in skipped.items()))
    if scores:
        best = max(scores, key=lambda n: (scores[n].roc_auc, scores[n].accuracy))
    else:
        best = max(fitted, key=lambda n: fitted[n].cv_roc_auc)
    return ClassicalResult(fitted, scores, best, skipped, reused)


def train_cnn(train: Split, val: Split, n_classes: int, cfg: Config, progress: bool = True) -> TrainedCNN:
    """VGG16 on the splits' mel arrays (checkpoints and the base-output cache under ``<home>/cnn``)."""
    data = Data(mels=train.mels, y=train.y, val_mels=val.mels, val_y=val.y, val_clips=val.clips,
                n_classes=n_classes, top_db=cfg.features.top_db)
    return fit(data, cfg.cnn, cfg.home / "cnn", progress)


def clip_labels(split: Split) -> np.ndarray:
    """The label of each clip of ``split``, in first-seen clip order (the order of clip-level probabilities)."""
    return clip_truth(np.zeros((len(split.y), 1)), split.y, split.clips)[0]


def classical_held_apart(result: ClassicalResult, train: Split, val: Split | None,
                         names: list[str] | None = None) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Clip probabilities of the classical models (``names``, default all) on clips none was fitted on: the
    out-of-fold predictions of their cross-validation on the training clips, then their validation clips."""
    names = list(result.fitted) if names is None else names
    order = pd.unique(train.clips)
    n_classes = int(train.y.max()) + 1
    has_val = val is not None and len(val.y) > 0
    out = {}
    for name in names:
        ids, probs = result.fitted[name].out_of_fold()
        parts = [pd.DataFrame(probs, index=ids).loc[order].to_numpy()]
        if has_val:
            parts.append(clip_truth(classical.predict_proba(result.fitted[name].model, val.X, n_classes),
                                    val.y, val.clips)[1])
        out[name] = np.vstack(parts)
    y = np.concatenate([clip_labels(train)] + ([clip_labels(val)] if has_val else []))
    return out, y
