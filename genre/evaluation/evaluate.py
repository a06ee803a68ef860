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
from genre.models.pretrained import PretrainedMember
from genre.models.train import ClassicalResult, Split, classical_held_apart, clip_labels
from genre.models.vgg16_training import TrainedCNN
from genre.serving.predictor import ENSEMBLE, NETWORK, PRETRAINED, Predictor


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
            f"Candidate: **{self.chosen}** ({self.selection.chosen.describe()}), {self.selection.basis()}.",
            "### Candidates on held-apart clips", markdown_table(self.selection.rows()),
            metrics_table(self.test, "Test (clip level, frozen split; it only scores)"),
        ]
        parts.insert(1, f"Pretrained member: {info.get('pretrained_member', 'off')}; the candidate uses "
                        f"{info.get('pretrained', 'none')}.")
        if "cnn_mode" in info:
            parts.insert(1, f"VGG16: {info['cnn_mode']} (weights `{info.get('cnn_weights')}`), precision "
                            f"{info.get('cnn_precision')}, best epoch {int(info.get('cnn_best_epoch', -1)) + 1}, "
                            f"{info.get('cnn_train_images_per_second', 0)} training images/s.")
        return "\n\n".join(parts)


def held_apart(classical: ClassicalResult, train: Split, val: Split,
               pretrained: PretrainedMember | None = None) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Clip probabilities of the classical models and the pretrained head on clips none of them was fitted on
    (their out-of-fold predictions on the training clips, then the validation clips), and their labels."""
    probs, y = classical_held_apart(classical, train, val)
    if pretrained is not None:
        probs[PRETRAINED] = pretrained.held_apart(train, val)[0]
    return probs, y


def evaluate(classical: ClassicalResult, cnn: TrainedCNN | None, train: Split, val: Split, test: Split,
             labels: list[str], cfg: Config, pretrained: PretrainedMember | None = None) -> Evaluation:
    """Choose the candidate on held-apart clips, build its predictor, and score everything on the test clips.

    ``pretrained`` (the musicnn head) is a member beside the classical models and VGG16 when given."""
    members = (list(classical.fitted) + ([PRETRAINED] if pretrained is not None else [])
               + ([NETWORK] if cnn is not None else []))
    everything = ensemble.Combiner("average", members, [1.0 / len(members)] * len(members), n_classes=len(labels))
    heads = {n: f.model for n, f in classical.fitted.items()}
    info = {**(cnn.info() if cnn else {}), "pretrained_member": pretrained.describe() if pretrained else "off"}
    if pretrained is not None:
        heads[PRETRAINED] = pretrained.fitted.model
    probe = Predictor(labels=labels, features=cfg.features, classical=heads, combiner=everything,
                      cnn=cnn.model if cnn else None, image_size=cfg.cnn.image_size, info=info,
                      pretrained=pretrained.cfg if pretrained else None)
    probs, y = held_apart(classical, train, val, pretrained)
    pretrained_name = PRETRAINED if pretrained is not None else None
    early = [m for m in members if m != NETWORK]
    selection = ensemble.choose(probs, y, len(labels), ensemble.member_sets(early, classical.best, None,
                                                                            pretrained_name),
                                cfg.ensemble.methods, cfg.ensemble.folds, cfg.ensemble.seed)
    if cnn is not None and len(val.y):  # VGG16 has validation predictions only: a second stage on those clips
        late = probe.predict_clips(val.X, val.mels, val.clips, val.E)
        del late[ENSEMBLE]
        rows = np.arange(len(y) - len(late[NETWORK]), len(y))  # the validation clips close the held-apart ones
        sets = ensemble.member_sets(members, classical.best, NETWORK, pretrained_name)
        selection = ensemble.choose_with_late(selection, NETWORK, late, clip_labels(val), rows, sets,
                                              cfg.ensemble.methods, cfg.ensemble.folds)
    chosen = selection.chosen
    uses_pretrained = PRETRAINED in chosen.members
    predictor = Predictor(labels=labels, features=cfg.features,
                          classical={m: probe.classical[m] for m in chosen.members if m != NETWORK},
                          combiner=chosen, cnn=probe.cnn if NETWORK in chosen.members else None,
                          image_size=cfg.cnn.image_size, pretrained=probe.pretrained if uses_pretrained else None,
                          info={**probe.info, "ensemble": chosen.describe(),
                                "pretrained": pretrained.describe() if uses_pretrained else "none"})

    test_probs = probe.predict_clips(test.X, test.mels, test.clips, test.E)
    del test_probs[ENSEMBLE]
    for c in selection.candidates:
        if c.method != "member" and not c.skipped:
            test_probs[c.name] = selection.combiner(c).combine(test_probs)
    test_probs[ENSEMBLE] = predictor.predict_clips(test.X, test.mels, test.clips, test.E)[ENSEMBLE]
    return Evaluation(predictor, selection, labels, pd.unique(test.clips), clip_labels(test), test_probs)


def champion_probs(champion: Predictor, evaluation: Evaluation, test_clips: pd.DataFrame, test: Split, cfg: Config,
                   audio_paths: list[str]) -> tuple[np.ndarray | None, str]:
    """The champion's clip probabilities on today's test clips (rows as ``evaluation.test_clips``), or None with
    the reason it cannot be compared."""
    if champion.labels != evaluation.labels:
        return None, f"the champion knows other genres ({', '.join(champion.labels)})"
    same_embeddings = champion.pretrained is None or (
        test.E is not None and (champion.pretrained.checkpoint, champion.pretrained.layer)
        == (cfg.pretrained.checkpoint, cfg.pretrained.layer))
    if champion.features == cfg.features and same_embeddings:
        X, mels, clips, E = test.X, test.mels, test.clips, test.E
    else:  # the champion used other features or embeddings: compute them (cached) with its own config
        fs = extract_dataset(test_clips, audio_paths, cfg.feature_cache, champion.features, workers=cfg.workers,
                             pretrained=champion.pretrained)
        X, mels, clips, E = fs.features(), fs.mels, fs.table["clip_id"].to_numpy(), fs.embeddings
    probs = champion.predict_clips(X, mels, clips, E)[ENSEMBLE]
    frame = pd.DataFrame(probs, index=pd.unique(clips))
    missing = set(evaluation.test_clips) - set(frame.index)
    if missing:
        return None, f"the champion could not score {len(missing)} test clip(s) (e.g. {sorted(missing)[0]})"
    return frame.loc[evaluation.test_clips].to_numpy(), ""
