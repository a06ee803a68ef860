"""Clip-level metrics: macro one-vs-rest ROC-AUC (with a bootstrap interval), accuracy, macro-F1, per-class
precision/recall/F1, confusion matrix."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.stats import rankdata
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, precision_recall_fscore_support, roc_auc_score


def clip_mean(probs: np.ndarray, clip_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Average segment probabilities per clip: (clip ids in first-seen order, probabilities)."""
    frame = pd.DataFrame(probs)
    frame["clip"] = clip_ids
    grouped = frame.groupby("clip", sort=False).mean()
    return grouped.index.to_numpy(), grouped.to_numpy(dtype=np.float64)


def clip_truth(probs: np.ndarray, y: np.ndarray, clip_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Clip labels and clip probabilities (mean of the segments), in the first-seen order of :func:`clip_mean`."""
    ids, clip_probs = clip_mean(probs, clip_ids)
    first = pd.Series(y).groupby(pd.Series(clip_ids), sort=False).first()
    return first.loc[ids].to_numpy(), clip_probs


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
    """Metrics of clip probabilities ``probs`` against integer labels ``y``; macro-F1 over the genres in ``y``."""
    pred = probs.argmax(axis=1)
    labels = np.arange(probs.shape[1])
    present = np.unique(y)  # a genre with no clip in this split has no F1 to average (not an F1 of 0)
    return Scores(
        roc_auc=macro_roc_auc(y, probs),
        accuracy=float(accuracy_score(y, pred)),
        macro_f1=float(f1_score(y, pred, labels=present, average="macro", zero_division=0)),
        confusion=confusion_matrix(y, pred, labels=labels),
        n_clips=len(y),
    )


def rank_macro_auc(y: np.ndarray, probs: np.ndarray) -> float:
    """:func:`macro_roc_auc` from ranks (Mann-Whitney form, ties averaged): the same value, fast enough to bootstrap.

    NaN when no class has both positives and negatives in ``y``.
    """
    ranks = rankdata(probs, axis=0)
    aucs = []
    for k in range(probs.shape[1]):
        pos = y == k
        n_pos = int(pos.sum())
        if 0 < n_pos < len(y):
            aucs.append((ranks[pos, k].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * (len(y) - n_pos)))
    return float(np.mean(aucs)) if aucs else float("nan")


def _bootstrap(statistic, n_clips: int, n: int, seed: int, level: float) -> tuple[float, float]:
    """Percentile interval of ``statistic(rows)`` over ``n`` resamples of the clips with replacement."""
    rng = np.random.default_rng(seed)
    values = np.array([statistic(rows) for rows in rng.integers(0, n_clips, size=(n, n_clips))])
    values = values[~np.isnan(values)]
    if not len(values):
        raise ValueError("no bootstrap resample held two classes: too few clips for an interval")
    tail = (1 - level) / 2 * 100
    lo, hi = np.percentile(values, [tail, 100 - tail])
    return float(lo), float(hi)


def bootstrap_roc_auc(y: np.ndarray, probs: np.ndarray, n: int = 1000, seed: int = 0,
                      level: float = 0.95) -> tuple[float, float]:
    """Percentile bootstrap interval of the macro one-vs-rest ROC-AUC, resampling clips with replacement."""
    return _bootstrap(lambda rows: rank_macro_auc(y[rows], probs[rows]), len(y), n, seed, level)


def bootstrap_difference(y: np.ndarray, probs_a: np.ndarray, probs_b: np.ndarray, n: int = 1000, seed: int = 0,
                         level: float = 0.95) -> tuple[float, float]:
    """Paired bootstrap interval of ROC-AUC(a) - ROC-AUC(b): both scored on the same resampled clips each time."""
    return _bootstrap(lambda rows: rank_macro_auc(y[rows], probs_a[rows]) - rank_macro_auc(y[rows], probs_b[rows]),
                      len(y), n, seed, level)


def per_class(y: np.ndarray, probs: np.ndarray, labels: list[str]) -> pd.DataFrame:
    """Precision, recall, F1 and support of every class (rows named by label) for argmax predictions."""
    p, r, f, s = precision_recall_fscore_support(y, probs.argmax(axis=1), labels=np.arange(len(labels)),
                                                 zero_division=0)
    return pd.DataFrame({"precision": p, "recall": r, "f1": f, "support": s}, index=pd.Index(labels, name="class"))
