"""Training: the classical models chosen on validation, VGG16, and the ensemble weight."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from genre.config import Config
from genre.features.dataset import FeatureSet
from genre.metrics.scores import Scores, clip_truth, macro_roc_auc, score
from genre.models import classical
from genre.models.vgg16_training import Data, TrainedCNN, fit


@dataclass
class Split:
    """Segment features, mel images, integer labels and clip ids of one split.

    ``groups`` (one per segment) keeps cross-validation folds apart, e.g. by artist; None means by clip.
    """

    X: np.ndarray
    mels: np.ndarray
    y: np.ndarray
    clips: np.ndarray
    groups: np.ndarray | None = None

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
        )

    @property
    def cv_groups(self) -> np.ndarray:
        return self.clips if self.groups is None else self.groups

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
    ``skipped`` names the models that could not be trained on this data, with the reason.
    """

    fitted: dict[str, classical.Fitted]
    validation: dict[str, Scores]
    best: str
    skipped: dict[str, str] = field(default_factory=dict)


def train_classical(train: Split, val: Split | None, cfg: Config, progress: bool = True) -> ClassicalResult:
    """Tune each configured model on train (grouped, clip-level CV) and pick the best on validation.

    A model that cannot be trained on this data (e.g. too few clips of a class to calibrate the SVM on grouped
    folds) is skipped with its reason and the others go on; it is an error only when every model fails.
    """
    fitted, scores, skipped = {}, {}, {}
    n_classes = int(train.y.max()) + 1
    for name in cfg.classical.models:
        try:
            fitted[name] = classical.fit_model(name, train.X, train.y, train.clips, cfg.classical,
                                               groups=train.cv_groups, n_jobs=cfg.workers, progress=progress)
        except ValueError as exc:
            skipped[name] = str(exc)
            continue
        if val is not None and len(val.y):
            scores[name] = val.clip_scores(classical.predict_proba(fitted[name].model, val.X, n_classes))
    if not fitted:
        raise ValueError("no classical model could be trained: " + "; ".join(f"{n}: {r}" for n, r in skipped.items()))
    if scores:
        best = max(scores, key=lambda n: (scores[n].roc_auc, scores[n].accuracy))
    else:
        best = max(fitted, key=lambda n: fitted[n].cv_roc_auc)
    return ClassicalResult(fitted, scores, best, skipped)


def train_cnn(train: Split, val: Split, n_classes: int, cfg: Config, progress: bool = True) -> TrainedCNN:
    """VGG16 on the splits' mel arrays (checkpoints and the base-output cache under ``<home>/cnn``)."""
    data = Data(mels=train.mels, y=train.y, val_mels=val.mels, val_y=val.y, val_clips=val.clips,
                n_classes=n_classes, top_db=cfg.features.top_db)
    return fit(data, cfg.cnn, cfg.home / "cnn", progress)


def choose_cnn_weight(p_classical: np.ndarray, p_cnn: np.ndarray, val: Split, fixed: float | str) -> float:
    """The CNN's share in the average: fixed, or the best of 0, 0.25, ..., 1 on validation clips.

    Best means the highest clip ROC-AUC. Small validation sets saturate it (every blend at 1.0), so ties go
    to clip accuracy, then segment ROC-AUC, then the lowest log-loss.
    """
    if fixed != "auto":
        return float(fixed)
    ranked = []
    for w in (0.0, 0.25, 0.5, 0.75, 1.0):
        segments = (1 - w) * p_classical + w * p_cnn
        truth, probs = clip_truth(segments, val.y, val.clips)
        picked = np.clip(probs[np.arange(len(truth)), truth], 1e-12, 1.0)
        ranked.append((round(macro_roc_auc(truth, probs), 9), round(float(np.mean(probs.argmax(axis=1) == truth)), 9),
                       round(macro_roc_auc(val.y, segments), 9), float(np.log(picked).mean()), -w))
    return -max(ranked)[-1]
