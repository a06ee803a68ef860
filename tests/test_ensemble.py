"""The ensemble weight chosen on validation clips."""

from __future__ import annotations

import numpy as np

from genre.models.train import Split, choose_cnn_weight


def _val(labels: list[int], segments: int = 2) -> Split:
    y = np.repeat(labels, segments)
    clips = np.repeat([f"c{i}" for i in range(len(labels))], segments)
    return Split(X=np.zeros((len(y), 1)), mels=np.zeros((len(y), 1, 1)), y=y, clips=clips)


def _probs(y: np.ndarray, right: float) -> np.ndarray:
    """Two-class probabilities that rank every segment correctly, with ``right`` on the true class."""
    p = np.full((len(y), 2), 1 - right)
    p[np.arange(len(y)), y] = right
    return p


def test_ties_in_roc_auc_go_to_the_more_confident_blend() -> None:
    val = _val([0, 1, 0, 1])
    confident, hesitant = _probs(val.y, 0.95), _probs(val.y, 0.55)
    # every blend ranks perfectly (ROC-AUC 1); the log-loss prefers the confident classical model alone
    assert choose_cnn_weight(confident, hesitant, val, "auto") == 0.0
    assert choose_cnn_weight(hesitant, confident, val, "auto") == 1.0


def test_a_cnn_that_ranks_better_gets_a_share() -> None:
    val = _val([0, 1, 0, 1])
    classical = _probs(val.y, 0.9)
    classical[val.clips == "c0"] = [0.05, 0.95]  # c0 (class 0) scores above the true class-1 clips: misranked
    cnn = _probs(val.y, 0.6)
    assert choose_cnn_weight(classical, cnn, val, "auto") > 0.0
    assert choose_cnn_weight(classical, cnn, val, 0.3) == 0.3


def test_accuracy_breaks_saturated_roc_auc_before_log_loss() -> None:
    # as on gtzan-mini: every blend ranks the validation clips perfectly (ROC-AUC 1); the classical model is right
    # on every clip but soft, VGG16 is confident and wrong on c0. Log-loss alone would pick VGG16 alone (1.0),
    # which gets c0 wrong; the most confident blend that keeps every clip right is 0.5.
    val = _val([0, 1, 2, 0, 1, 2])
    classical = np.full((len(val.y), 3), 0.3)
    classical[np.arange(len(val.y)), val.y] = 0.4
    cnn = np.full((len(val.y), 3), 0.02)
    cnn[np.arange(len(val.y)), val.y] = 0.96
    cnn[val.clips == "c0"] = [0.45, 0.55, 0.0]
    assert choose_cnn_weight(classical, cnn, val, "auto") == 0.5
