"""The one predictor: VGG16 + a classical model, saved to and loaded from the BentoML store."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from genre.config import CNNConfig, FeatureConfig
from genre.data.audio import AudioError, load
from genre.features.extractor import clip_features, feature_names
from genre.features.images import batch_rgb
from genre.models import vgg16
from genre.serving import registry
from genre.serving.predictor import Predictor
from genre.validation.feature_profile import FeatureProfile
from tests.conftest import write_tone


@pytest.fixture(scope="module")
def predictor(tmp_path_factory) -> Predictor:
    folder = tmp_path_factory.mktemp("clips")
    cfg = FeatureConfig()
    feats, mels, ys = [], [], []
    for k, freq in enumerate((220.0, 880.0)):
        for seed in range(3):
            y = load(write_tone(folder / f"{k}-{seed}.wav", freq=freq * (1 + 0.02 * seed), seed=seed), cfg.sample_rate)
            clip = clip_features(y, cfg)
            feats.append(clip.features)
            mels.append(clip.mels)
            ys += [k] * len(clip.features)
    X, M, y = np.concatenate(feats), np.concatenate(mels), np.array(ys)
    small = CNNConfig(image_size=32, epochs=1, batch_size=8)
    trained = vgg16.train(batch_rgb(M, 32), y, 2, small, verbose=0)
    return Predictor(labels=["low", "high"], features=cfg, classical=LogisticRegression(max_iter=500).fit(X, y),
                     classical_name="logreg", cnn=trained.model, cnn_weight=0.5, image_size=32,
                     profile=FeatureProfile.learn(X, feature_names(cfg)))


def test_saved_model_predicts_the_same(predictor: Predictor, tmp_path, tone) -> None:
    registry.use_store(tmp_path / "home")
    tag = registry.save_model(predictor.save(tmp_path / "p"), "genre-test", {"note": "unit"}, {"stage": "test"})
    loaded = Predictor.load(registry.model_path(tag))
    clip = tone("low.wav", freq=225.0, seed=7)
    before, after = predictor.classify_file(clip).probabilities, loaded.classify_file(clip).probabilities
    assert before.keys() == after.keys() == {"low", "high"}
    assert all(abs(before[k] - after[k]) < 1e-5 for k in before)
    assert max(after, key=after.get) == "low"  # the classical half alone separates these tones
    assert abs(sum(after.values()) - 1) < 1e-6


def test_inputs_unlike_the_training_data_are_flagged(predictor: Predictor, tmp_path) -> None:
    import soundfile as sf

    seen = write_tone(tmp_path / "seen.wav", freq=220.0 * 1.02, seed=1)  # the same audio as a training clip
    assert predictor.classify_file(seen).unusual_features == []
    noise = np.random.default_rng(0).uniform(-1, 1, 22050 * 4).astype(np.float32)
    sf.write(tmp_path / "noise.wav", noise, 22050)
    unusual = predictor.classify_file(tmp_path / "noise.wav").unusual_features
    assert "flatness_mean" in unusual and len(unusual) > 5  # white noise is nothing like two pure tones


def test_bad_audio_is_refused_with_a_reason(predictor: Predictor, tmp_path, tone) -> None:
    silent = tone("silent.wav", amp=0.0, noise=0.0)
    with pytest.raises(AudioError, match="silent"):
        predictor.classify_file(silent)
    text = tmp_path / "notes.wav"
    text.write_text("hello")
    with pytest.raises(AudioError, match="notes.wav: not decodable audio"):
        predictor.classify_file(text)
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    with pytest.raises(AudioError, match="empty"):
        predictor.classify_file(empty)


def test_champion_pointer_keeps_history(tmp_path) -> None:
    registry.promote(tmp_path, {"tag": "m:1", "roc_auc": 0.8})
    registry.promote(tmp_path, {"tag": "m:2", "roc_auc": 0.9})
    assert registry.champion(tmp_path)["tag"] == "m:2"
    assert [r["tag"] for r in json.loads((tmp_path / "champion-history.json").read_text())] == ["m:1"]


def test_vgg16_weights_from_a_local_file(tmp_path) -> None:
    first = vgg16.build(3, CNNConfig(image_size=32, seed=1))
    path = tmp_path / "vgg16_notop.weights.h5"
    first.get_layer("vgg16").save_weights(path)
    second = vgg16.build(3, CNNConfig(image_size=32, seed=2, weights=str(path)))
    for a, b in zip(first.get_layer("vgg16").weights, second.get_layer("vgg16").weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    with pytest.raises(FileNotFoundError, match="does not exist"):
        vgg16.build(3, CNNConfig(image_size=32, weights=str(tmp_path / "missing.h5")))
