"""Ensemble the best classical model with VGG16 and evaluate on the frozen test split."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from genre.config import Config
from genre.features.dataset import extract_dataset
from genre.metrics.plots import metrics_table, plot_confusion, plot_roc
from genre.metrics.scores import Scores, clip_truth, score
from genre.models.classical import predict_proba
from genre.models.train import ClassicalResult, Split, choose_cnn_weight
from genre.models.vgg16_training import TrainedCNN
from genre.serving.predictor import Predictor

ENSEMBLE = "ensemble"
CNN = "vgg16"


@dataclass
class Evaluation:
    """Test-split scores of every model and the ensemble predictor that is gated."""

    predictor: Predictor
    test: dict[str, Scores]
    validation: dict[str, Scores]
    cnn_weight: float
    plots: list[Path] = field(default_factory=list)

    @property
    def roc_auc(self) -> float:
        return self.test[ENSEMBLE].roc_auc

    def markdown(self) -> str:
        p = self.predictor
        return "\n\n".join([
            f"Ensemble: `{p.classical_name}` and `{CNN}` averaged with VGG16 weight {self.cnn_weight:.2f} "
            "(chosen on validation).",
            f"VGG16: {p.info.get('cnn_mode', '?')} (weights `{p.info.get('cnn_weights', '?')}`), precision "
            f"{p.info.get('cnn_precision', '?')}, best epoch {int(p.info.get('cnn_best_epoch', -1)) + 1}, "
            f"{p.info.get('cnn_train_images_per_second', 0)} training images/s.",
            metrics_table(self.validation, "Validation (clip level)"),
            metrics_table(self.test, "Test (clip level, frozen split)"),
        ])


def evaluate(classical: ClassicalResult, cnn: TrainedCNN, val: Split, test: Split, labels: list[str],
             cfg: Config, out_dir: Path) -> Evaluation:
    """Build the ensemble predictor, score all models on test, and draw ROC and confusion plots."""
    predictor = Predictor(labels=labels, features=cfg.features, classical=classical.fitted[classical.best].model,
                          classical_name=classical.best, cnn=cnn.model, image_size=cfg.cnn.image_size,
                          info=cnn.info())
    pc_val, pn_val = predictor.components(val.X, val.mels)
    predictor.cnn_weight = choose_cnn_weight(pc_val, pn_val, val, cfg.ensemble_cnn_weight)
    validation = dict(classical.validation)
    validation[CNN] = val.clip_scores(pn_val)
    validation[ENSEMBLE] = val.clip_scores(predictor.combine(pc_val, pn_val))

    segments = {name: predict_proba(f.model, test.X, len(labels)) for name, f in classical.fitted.items()}
    pc_test, segments[CNN] = predictor.components(test.X, test.mels)
    segments[ENSEMBLE] = predictor.combine(pc_test, segments[CNN])
    probs = {name: clip_truth(p, test.y, test.clips)[1] for name, p in segments.items()}
    y_test = clip_truth(pc_test, test.y, test.clips)[0]
    scores = {name: score(y_test, p) for name, p in probs.items()}
    plots = [
        plot_roc(y_test, probs, labels, out_dir / "roc.png"),
        plot_confusion(scores[ENSEMBLE].confusion, labels, out_dir / "confusion.png", "Ensemble, test clips"),
    ]
    return Evaluation(predictor, scores, validation, predictor.cnn_weight, plots)


def champion_auc(champion: Predictor, test_clips: pd.DataFrame, test: Split, labels: list[str],
                 cfg: Config, audio_paths: list[str]) -> tuple[float | None, str]:
    """The champion's ROC-AUC on today's test split, or None with the reason it is not comparable."""
    if champion.labels != labels:
        return None, f"the champion knows other genres ({', '.join(champion.labels)})"
    if champion.features == cfg.features:
        X, mels, y, clips = test.X, test.mels, test.y, test.clips
    else:  # the champion used other features: compute them (cached) with its own config
        fs = extract_dataset(test_clips, audio_paths, cfg.feature_cache, champion.features, workers=cfg.workers)
        X, mels, clips = fs.features(), fs.mels, fs.table["clip_id"].to_numpy()
        y = fs.table["label"].map({label: i for i, label in enumerate(labels)}).to_numpy()
    return score(*clip_truth(champion.predict_segments(X, mels), y, clips)).roc_auc, ""
