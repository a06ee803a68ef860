"""The candidate: the ensemble chosen on held-apart predictions, then scored beside every member and every other
candidate on the frozen test split, through the predictor that would be served."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from genre.config import Config
from genre.features.dataset import extract_dataset
from genre.metrics.plots import markdown_table, metrics_table
from genre.metrics.scores import Scores, score
from genre.models import ensemble
from genre.models.train import ClassicalResult, Split, classical_held_apart, clip_labels
from genre.models.vgg16_training import TrainedCNN
from genre.serving.predictor import ENSEMBLE, NETWORK, Predictor


@dataclass
class Evaluation:
    """The chosen predictor, how it was chosen, and clip-level test results of every member and candidate."""

    predictor: Predictor
    selection: ensemble.Selection
    labels: list[str]
    test_clips: np.ndarray  # clip ids, the row order of every array in ``test_probs``
    y_test: np.ndarray
    test_probs: dict[str, np.ndarray]  # members, candidates, and ENSEMBLE (the chosen one)
    test: dict[str, Scores] = field(init=False)

    def __post_init__(self) -> None:
        self.test = {name: score(self.y_test, p) for name, p in self.test_probs.items()}

    @property
    def roc_auc(self) -> float:
        return self.test[ENSEMBLE].roc_auc

    @property
    def chosen(self) -> str:
        return self.selection.chosen.name

    def markdown(self) -> str:
        info = self.predictor.info
        parts = [
            f"Candidate: **{self.chosen}** ({self.selection.chosen.describe()}), chosen on "
            f"{self.selection.n_clips} held-apart clips (out-of-fold and validation predictions; never the test split).",
            "### Candidates on held-apart clips", markdown_table(self.selection.rows()),
            metrics_table(self.test, "Test (clip level, frozen split; it only scores)"),
        ]
        if "cnn_mode" in info:
            parts.insert(1, f"VGG16: {info['cnn_mode']} (weights `{info.get('cnn_weights')}`), precision "
                            f"{info.get('cnn_precision')}, best epoch {int(info.get('cnn_best_epoch', -1)) + 1}, "
                            f"{info.get('cnn_train_images_per_second', 0)} training images/s.")
        return "\n\n".join(parts)


def held_apart(classical: ClassicalResult, probe: Predictor, train: Split, val: Split) -> tuple[dict[str, np.ndarray],
                                                                                                 np.ndarray]:
    """Clip probabilities of every member of ``probe`` on clips none of them was fitted on, and their labels.

    VGG16 has validation predictions only, so with it in ``probe`` the clips are the validation clips; without it,
    the training clips (the classical models' out-of-fold predictions) and the validation clips.
    """
    if NETWORK not in probe.members:
        return classical_held_apart(classical, train, val, probe.members)
    probs = probe.predict_clips(val.X, val.mels, val.clips)
    del probs[ENSEMBLE]
    return probs, clip_labels(val)


def evaluate(classical: ClassicalResult, cnn: TrainedCNN | None, train: Split, val: Split, test: Split,
             labels: list[str], cfg: Config) -> Evaluation:
    """Choose the candidate on held-apart clips, build its predictor, and score everything on the test clips."""
    members = list(classical.fitted) + ([NETWORK] if cnn is not None else [])
    everything = ensemble.Combiner("average", members, [1.0 / len(members)] * len(members), n_classes=len(labels))
    probe = Predictor(labels=labels, features=cfg.features, classical={n: f.model for n, f in classical.fitted.items()},
                      combiner=everything, cnn=cnn.model if cnn else None, image_size=cfg.cnn.image_size,
                      info=cnn.info() if cnn else {})
    probs, y = held_apart(classical, probe, train, val)
    sets = ensemble.member_sets(members, classical.best, NETWORK if cnn else None)
    selection = ensemble.choose(probs, y, len(labels), sets, cfg.ensemble.methods, cfg.ensemble.folds, cfg.ensemble.seed)
    chosen = selection.chosen
    predictor = Predictor(labels=labels, features=cfg.features,
                          classical={m: probe.classical[m] for m in chosen.members if m != NETWORK},
                          combiner=chosen, cnn=probe.cnn if NETWORK in chosen.members else None,
                          image_size=cfg.cnn.image_size, info={**probe.info, "ensemble": chosen.describe()})

    test_probs = probe.predict_clips(test.X, test.mels, test.clips)
    del test_probs[ENSEMBLE]
    for c in selection.candidates:
        if c.method != "member" and not c.skipped:
            test_probs[c.name] = selection.combiner(c).combine(test_probs)
    test_probs[ENSEMBLE] = predictor.predict_clips(test.X, test.mels, test.clips)[ENSEMBLE]
    return Evaluation(predictor, selection, labels, pd.unique(test.clips), clip_labels(test), test_probs)


def champion_probs(champion: Predictor, evaluation: Evaluation, test_clips: pd.DataFrame, test: Split, cfg: Config,
                   audio_paths: list[str]) -> tuple[np.ndarray | None, str]:
    """The champion's clip probabilities on today's test clips (rows as ``evaluation.test_clips``), or None with
    the reason it cannot be compared."""
    if champion.labels != evaluation.labels:
        return None, f"the champion knows other genres ({', '.join(champion.labels)})"
    if champion.features == cfg.features:
        X, mels, clips = test.X, test.mels, test.clips
    else:  # the champion used other features: compute them (cached) with its own config
        fs = extract_dataset(test_clips, audio_paths, cfg.feature_cache, champion.features, workers=cfg.workers)
        X, mels, clips = fs.features(), fs.mels, fs.table["clip_id"].to_numpy()
    probs = champion.predict_clips(X, mels, clips)[ENSEMBLE]
    frame = pd.DataFrame(probs, index=pd.unique(clips))
    missing = set(evaluation.test_clips) - set(frame.index)
    if missing:
        return None, f"the champion could not score {len(missing)} test clip(s) (e.g. {sorted(missing)[0]})"
    return frame.loc[evaluation.test_clips].to_numpy(), ""
