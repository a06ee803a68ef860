"""Training: the classical models chosen on validation, VGG16, and the ensemble weight."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from genre import classical, cnn
from genre.config import Config
from genre.extract import FeatureSet
from genre.metrics import Scores, clip_mean, score
from genre.spectrogram import batch_rgb


@dataclass
class Split:
    """Segment features, mel images, integer labels and clip ids of one split."""

    X: np.ndarray
    mels: np.ndarray
    y: np.ndarray
    clips: np.ndarray

    @classmethod
    def of(cls, fs: FeatureSet, assignment: dict[str, str], name: str, labels: list[str]) -> Split:
        mask = fs.table["clip_id"].map(assignment).eq(name).to_numpy()
        index = {label: i for i, label in enumerate(labels)}
        return cls(
            X=fs.features()[mask], mels=fs.mels[mask],
            y=fs.table.loc[mask, "label"].map(index).to_numpy(dtype=np.int64),
            clips=fs.table.loc[mask, "clip_id"].to_numpy(),
        )

    def clip_labels(self) -> tuple[np.ndarray, np.ndarray]:
        """Clip ids (first-seen order, as :func:`clip_mean`) and their labels."""
        ids, first = np.unique(self.clips, return_index=True)
        order = np.argsort(first)
        return ids[order], self.y[first[order]]

    def clip_scores(self, segment_probs: np.ndarray) -> Scores:
        _, probs = clip_mean(segment_probs, self.clips)
        return score(self.clip_labels()[1], probs)


@dataclass
class ClassicalResult:
    """Every tuned model with its validation scores; ``best`` wins on validation ROC-AUC."""

    fitted: dict[str, classical.Fitted]
    validation: dict[str, Scores]
    best: str


def train_classical(train: Split, val: Split, cfg: Config) -> ClassicalResult:
    """Tune each configured model on train (grouped CV) and pick the best on validation."""
    fitted, scores = {}, {}
    for name in cfg.classical.models:
        fitted[name] = classical.fit_model(name, train.X, train.y, train.clips, cfg.classical, n_jobs=cfg.workers)
        scores[name] = val.clip_scores(fitted[name].model.predict_proba(val.X))
    best = max(scores, key=lambda n: (scores[n].roc_auc, scores[n].accuracy))
    return ClassicalResult(fitted, scores, best)


def train_cnn(train: Split, val: Split, n_classes: int, cfg: Config) -> cnn.TrainedCNN:
    size = cfg.cnn.image_size
    top_db = cfg.features.top_db
    return cnn.train(batch_rgb(train.mels, size, top_db), train.y, n_classes, cfg.cnn,
                     val=(batch_rgb(val.mels, size, top_db), val.y))


def choose_cnn_weight(p_classical: np.ndarray, p_cnn: np.ndarray, val: Split, fixed: float | str) -> float:
    """The CNN's share in the average: fixed, or the best of 0, 0.25, ..., 1 on validation ROC-AUC."""
    if fixed != "auto":
        return float(fixed)
    grid = [0.0, 0.25, 0.5, 0.75, 1.0]
    aucs = [val.clip_scores((1 - w) * p_classical + w * p_cnn).roc_auc for w in grid]
    best = max(aucs)
    # ties go to the weight nearest an even average
    return min((w for w, a in zip(grid, aucs) if a >= best - 1e-9), key=lambda w: abs(w - 0.5))
