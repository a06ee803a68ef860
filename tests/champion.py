"""A small champion for the tests that serve one: logistic regression and a tiny VGG16, averaged, trained on the
first clips of each genre of gtzan-mini, then saved in a BentoML store, packaged as a Bento and promoted."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

TRAIN_PER_GENRE = 4  # of gtzan-mini's 7 clips per genre; the last ones stay unseen


def clip_arrays(paths: list[Path], labels: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Segment features, mel images, genre indexes (from each clip's folder) and clip indexes of ``paths``."""
    from genre.config import FeatureConfig
    from genre.data.audio import load
    from genre.features.extractor import clip_features

    cfg = FeatureConfig()
    feats, mels, ys, clips = [], [], [], []
    for i, path in enumerate(paths):
        clip = clip_features(load(path, cfg.sample_rate), cfg)
        feats.append(clip.features)
        mels.append(clip.mels)
        ys += [labels.index(path.parent.name)] * len(clip.features)
        clips += [i] * len(clip.features)
    return np.concatenate(feats), np.concatenate(mels), np.array(ys), np.array(clips)


def train(workdir: Path, gtzan_mini: Path) -> tuple[Any, str]:
    """The predictor (a ``genre.serving.predictor.Predictor``) and its network's precision."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from genre.config import CNNConfig, FeatureConfig
    from genre.features.extractor import feature_names
    from genre.models import ensemble
    from genre.models.vgg16_training import Data, fit
    from genre.serving.predictor import Predictor
    from genre.serving.reference import Reference
    from genre.validation.feature_profile import FeatureProfile

    cfg = FeatureConfig()
    labels = sorted(p.name for p in gtzan_mini.iterdir() if p.is_dir())
    paths = [p for label in labels for p in sorted((gtzan_mini / label).iterdir())[:TRAIN_PER_GENRE]]
    X, M, y, clips = clip_arrays(paths, labels)
    logreg = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000)).fit(X, y)
    every = slice(None, None, 4)  # a quarter of the segments is enough for a network that only has to run
    data = Data(mels=M[every], y=y[every], val_mels=M[every], val_y=y[every],
                val_clips=np.arange(len(y))[every], n_classes=len(labels), top_db=cfg.top_db)
    cnn = fit(data, CNNConfig(image_size=32, epochs=1, batch_size=32), workdir / "cnn", progress=False)
    combiner = ensemble.fit("average", ["logreg", "vgg16"], {}, y, len(labels))
    predictor = Predictor(labels=labels, features=cfg, classical={"logreg": logreg}, combiner=combiner,
                          cnn=cnn.model, image_size=32, profile=FeatureProfile.learn(X, feature_names(cfg)),
                          reference=Reference.learn(X, clips, y, feature_names(cfg), labels))
    return predictor, cnn.precision


def publish(predictor: Any, workdir: Path, metadata: dict[str, Any], by: str) -> dict[str, Any]:
    """Save ``predictor`` as a model of the store in ``workdir/home``, build its Bento and promote it; returns the
    home, tag, Bento tag and genres."""
    from genre.serving import registry

    home = workdir / "home"
    registry.use_store(home)
    tag = registry.save_model(predictor.save(workdir / "predictor"), "genre-classifier", metadata, {"stage": "test"})
    bento = registry.build_bento(tag, "genre-classifier")
    with registry.transaction(home) as champions:
        champions.promote({"tag": tag, "bento": bento}, by=by)
    return {"home": str(home), "tag": tag, "bento": bento, "labels": list(predictor.labels)}
