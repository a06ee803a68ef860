"""Clip-level metrics: macro one-vs-rest ROC-AUC, accuracy, macro-F1, confusion matrix."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, roc_auc_score


def clip_mean(probs: np.ndarray, clip_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Average segment probabilities per clip: (clip ids in first-seen order, probabilities)."""
    frame = pd.DataFrame(probs)
    frame["clip"] = clip_ids
    grouped = frame.groupby("clip", sort=False).mean()
    return grouped.index.to_numpy(), grouped.to_numpy(dtype=np.float64)


def macro_roc_auc(y: np.ndarray, probs: np.ndarray) -> float:
    """Mean one-vs-rest ROC-AUC over the classes that have positives and negatives in ``y``."""
    scores = [
        roc_auc_score(y == k, probs[:, k]) for k in range(probs.shape[1]) if 0 < np.sum(y == k) < len(y)
    ]
    if not scores:
        raise ValueError("ROC-AUC needs at least two classes in the evaluated clips")
    return float(np.mean(scores))


@dataclass
class Scores:
    """Clip-level metrics of one model on one split."""

    roc_auc: float
    accuracy: float
    macro_f1: float
    confusion: np.ndarray
    n_clips: int

    def row(self) -> dict[str, float]:
        return {"roc_auc": round(self.roc_auc, 4), "accuracy": round(self.accuracy, 4),
                "macro_f1": round(self.macro_f1, 4), "clips": self.n_clips}


def score(y: np.ndarray, probs: np.ndarray) -> Scores:
    """Metrics of clip probabilities ``probs`` against integer labels ``y``."""
    pred = probs.argmax(axis=1)
    labels = np.arange(probs.shape[1])
    return Scores(
        roc_auc=macro_roc_auc(y, probs),
        accuracy=float(accuracy_score(y, pred)),
        macro_f1=float(f1_score(y, pred, labels=labels, average="macro", zero_division=0)),
        confusion=confusion_matrix(y, pred, labels=labels),
        n_clips=len(y),
    )
