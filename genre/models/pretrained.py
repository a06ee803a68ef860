"""The pretrained member: a musicnn checkpoint's embedding of each segment (genre.features.pretrained) + a
classical head tuned like the classical models (randomised search on folds grouped by clip or artist, scored by
clip-level ROC-AUC), with out-of-fold predictions for the ensemble's choice."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from genre.config import Config, PretrainedConfig
from genre.metrics.scores import Scores, clip_truth
from genre.models import classical
from genre.models.train import Split, clip_labels


@dataclass
class PretrainedMember:
    """The tuned head on the embeddings of ``cfg``'s checkpoint and layer, with its validation scores."""

    fitted: classical.Fitted
    cfg: PretrainedConfig
    validation: Scores | None = None

    def describe(self) -> str:
        return f"{self.cfg.checkpoint} {self.cfg.layer} + {self.cfg.head}"

    def held_apart(self, train: Split, val: Split | None) -> tuple[np.ndarray, np.ndarray]:
        """Clip probabilities on clips the head was not fitted on (out-of-fold on the training clips, then the
        validation clips) and their labels, in the order of ``classical_held_apart``."""
        ids, probs = self.fitted.out_of_fold()
        parts = [pd.DataFrame(probs, index=ids).loc[pd.unique(train.clips)].to_numpy()]
        has_val = val is not None and len(val.y) > 0
        if has_val:
            n_classes = int(train.y.max()) + 1
            parts.append(clip_truth(classical.predict_proba(self.fitted.model, val.E, n_classes), val.y,
                                    val.clips)[1])
        y = np.concatenate([clip_labels(train)] + ([clip_labels(val)] if has_val else []))
        return np.vstack(parts), y


def train_pretrained(train: Split, val: Split | None, cfg: Config, progress: bool = True) -> PretrainedMember:
    """Tune ``cfg.pretrained.head`` on the training split's embeddings; ValueError when the split has none."""
    if train.E is None:
        raise ValueError("the feature set holds no pretrained embeddings (pretrained.checkpoint = none?)")
    fitted = classical.fit_model(cfg.pretrained.head, train.E, train.y, train.clips, cfg.classical,
                                 groups=train.cv_groups, n_jobs=cfg.workers, progress=progress)
    member = PretrainedMember(fitted, cfg.pretrained)
    if val is not None and len(val.y):
        n_classes = int(train.y.max()) + 1
        member.validation = val.clip_scores(classical.predict_proba(fitted.model, val.E, n_classes))
    return member
