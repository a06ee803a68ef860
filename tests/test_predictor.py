"""The one predictor: VGG16 + a classical model, saved to and loaded from the BentoML store."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sklearn.linear_model import LogisticRegression

from genre.config import CNNConfig, FeatureConfig
from genre.data.audio import AudioError, load
from genre.features.extractor import FeatureError, clip_features, feature_names
from genre.models import vgg16
from genre.models.ensemble import Combiner
from genre.models.vgg16_training import Data, fit
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
    data = Data(mels=M, y=y, val_mels=M, val_y=y, val_clips=np.repeat(np.arange(len(feats)), [len(f) for f in feats]),
                n_classes=2, top_db=cfg.top_db)
    trained = fit(data, small, tmp_path_factory.mktemp("cnn"), progress=False)
    return Predictor(labels=["low", "high"], features=cfg, classical={"logreg": LogisticRegression(max_iter=500).fit(X, y)},
                     combiner=Combiner("weighted", ["logreg", "vgg16"], [0.5, 0.5], n_classes=2), cnn=trained.model,
                     image_size=32, profile=FeatureProfile.learn(X, feature_names(cfg)))


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


def test_champion_keeps_its_lineage_and_events(tmp_path) -> None:
    for tag in ("m:1", "m:2"):
        with registry.transaction(tmp_path) as champions:
            champions.promote({"tag": tag}, by="test")
    assert registry.champion(tmp_path)["tag"] == "m:2"
    with registry.transaction(tmp_path) as champions:
        assert champions.rollback(by="test")["tag"] == "m:1"
    state = json.loads((tmp_path / "champion.json").read_text())
    assert [r["tag"] for r in state["lineage"]] == ["m:1"]
    assert [(e["action"], e["tag"], e["previous"]) for e in state["events"]] == [
        ("promote", "m:1", None), ("promote", "m:2", "m:1"), ("rollback", "m:1", "m:2")]
    with pytest.raises(ValueError, match="no previous champion"), registry.transaction(tmp_path) as champions:
        champions.rollback(by="test")
    assert registry.champion(tmp_path)["tag"] == "m:1"  # a failed transaction writes nothing


def test_vgg16_weights_from_a_local_file(tmp_path) -> None:
    first = vgg16.build(3, CNNConfig(image_size=32, seed=1))
    path = tmp_path / "vgg16_notop.weights.h5"
    first.get_layer("vgg16").save_weights(path)
    second = vgg16.build(3, CNNConfig(image_size=32, seed=2, weights=str(path)))
    for a, b in zip(first.get_layer("vgg16").weights, second.get_layer("vgg16").weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    with pytest.raises(FileNotFoundError, match="does not exist"):
        vgg16.build(3, CNNConfig(image_size=32, weights=str(tmp_path / "missing.h5")))


def test_members_are_combined_as_the_combiner_says(predictor: Predictor, tmp_path) -> None:
    classical = np.array([[0.9, 0.1], [0.8, 0.2]])
    cnn = np.array([[0.1, 0.9], [0.3, 0.7]])
    members = {"logreg": classical, "vgg16": cnn}
    blended = Combiner("weighted", ["logreg", "vgg16"], [0.75, 0.25], n_classes=2).combine(members)
    np.testing.assert_allclose(blended, 0.75 * classical + 0.25 * cnn)
    assert (blended[:, 0] > 0.5).all()  # the classical member has three quarters of the say
    leaning = Combiner("weighted", ["logreg", "vgg16"], [0.25, 0.75], n_classes=2).combine(members)
    assert (leaning[:, 1] > 0.5).all()  # ...and here the CNN
    # the real members of the fixture: the served probabilities are the weighted mean of both members' answers
    y = load(write_tone(tmp_path / "mix.wav", freq=500.0, seed=3), 22050)
    clip = clip_features(y, predictor.features)
    parts = predictor.member_probs(clip.features, clip.mels)
    assert not np.allclose(parts["logreg"], parts["vgg16"])
    np.testing.assert_allclose(predictor.predict_segments(clip.features, clip.mels),
                               0.5 * parts["logreg"] + 0.5 * parts["vgg16"], rtol=1e-6)
    served = predictor.classify_signal(y).probabilities
    clip_mean = 0.5 * parts["logreg"].mean(axis=0) + 0.5 * parts["vgg16"].mean(axis=0)
    np.testing.assert_allclose(list(served.values()), clip_mean, rtol=1e-5)


def test_silent_stretches_and_short_clips(predictor: Predictor, tmp_path) -> None:
    import soundfile as sf

    song = load(write_tone(tmp_path / "song.wav", freq=880.0 * 1.01, seconds=8.0, seed=4), 22050)
    sf.write(tmp_path / "tail.wav", np.concatenate([song, np.zeros(5 * 22050, np.float32)]), 22050)
    result = predictor.classify_file(tmp_path / "tail.wav")  # a song with 5 s of digital silence at the end
    assert result.genre == "high" and np.isfinite(list(result.probabilities.values())).all()
    sf.write(tmp_path / "blip.wav", song[: int(0.14 * 22050)], 22050)
    with pytest.raises(AudioError, match=r"blip.wav: 0.14 s of audio is too short: the minimum is 1 s \(features.min_seconds\)"):
        predictor.classify_file(tmp_path / "blip.wav")
    sf.write(tmp_path / "short.wav", song[: int(1.5 * 22050)], 22050)
    assert predictor.classify_file(tmp_path / "short.wav").genre == "high"  # repeated to one segment


def test_a_model_trained_on_other_feature_versions_is_refused(predictor: Predictor, tmp_path) -> None:
    from genre.features.extractor import versions
    from genre.serving.predictor import META_FILE, IncompatibleModel

    folder = predictor.save(tmp_path / "p")
    meta = json.loads((folder / META_FILE).read_text())
    assert meta["feature_versions"] == versions()
    meta["feature_versions"] = {"features": 2, "mels": 2}
    (folder / META_FILE).write_text(json.dumps(meta))
    with pytest.raises(IncompatibleModel, match=r"versions \{'features': 2, 'mels': 2\}.*Retrain it"):
        Predictor.load(folder)


SIGNALS = st.fixed_dictionaries({
    "seconds": st.sampled_from([0.01, 0.2, 0.9, 1.0, 1.7, 3.0, 4.4, 12.0]),
    "rate": st.sampled_from([8000, 11025, 16000, 22050, 44100, 48000, 96000, 192000]),
    "channels": st.sampled_from([1, 2]),
    "kind": st.sampled_from(["tone", "noise", "silence", "dc", "clipped", "impulse"]),
    "silence_at": st.sampled_from([None, "head", "tail", "middle"]),
    "level": st.sampled_from([0.0, 1e-6, 1e-3, 0.3, 1.0]),
})


def odd_signal(spec: dict) -> tuple[np.ndarray, int]:
    rate, n = spec["rate"], max(1, int(spec["seconds"] * spec["rate"]))
    t = np.arange(n) / rate
    rng = np.random.default_rng(n)
    y = {"tone": np.sin(2 * np.pi * 440 * t), "noise": rng.uniform(-1, 1, n), "silence": np.zeros(n),
         "dc": np.ones(n), "clipped": np.clip(8 * np.sin(2 * np.pi * 110 * t), -1, 1),
         "impulse": (np.arange(n) == n // 2).astype(float)}[spec["kind"]] * spec["level"]
    quiet = {"head": slice(0, n // 3), "tail": slice(2 * n // 3, n), "middle": slice(n // 3, 2 * n // 3)}
    if spec["silence_at"]:
        y[quiet[spec["silence_at"]]] = 0.0
    return np.stack([y, 0.5 * y][: spec["channels"]], axis=1).astype(np.float32), rate


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(spec=SIGNALS)
def test_any_signal_gets_probabilities_or_a_named_error(predictor: Predictor, tmp_path, spec) -> None:
    import soundfile as sf

    y, rate = odd_signal(spec)
    path = tmp_path / "odd input.wav"
    sf.write(path, y, rate, subtype="FLOAT")
    try:
        result = predictor.classify_file(path)  # a logistic regression raises on any NaN that reaches it
    except (AudioError, FeatureError) as exc:
        assert str(exc).startswith("odd input.wav: ") or "odd input.wav" in str(exc), exc
        assert any(word in str(exc) for word in ("too short", "silent", "shorter than")), exc
        return
    probs = np.array(list(result.probabilities.values()))
    assert np.isfinite(probs).all() and abs(probs.sum() - 1) < 1e-5, spec


def test_genre_predict_names_each_bad_file_and_goes_on(predictor: Predictor, tmp_path, capsys) -> None:
    import soundfile as sf

    from flows.cli import main

    home = tmp_path / "home"
    registry.use_store(home)
    tag = registry.save_model(predictor.save(tmp_path / "p"), "genre-test", {}, {"stage": "test"})
    with registry.transaction(home) as champions:
        champions.promote({"tag": tag, "roc_auc": 1.0}, by="test")
    files = []
    for i, spec in enumerate([{"seconds": 0.2, "kind": "tone"}, {"seconds": 6.0, "kind": "silence"},
                              {"seconds": 6.0, "kind": "tone", "silence_at": "tail"},
                              {"seconds": 2.0, "kind": "dc", "rate": 96000, "channels": 2}]):
        y, rate = odd_signal({"rate": 22050, "channels": 1, "silence_at": None, "level": 0.3, **spec})
        files.append(str(tmp_path / f"f{i}.wav"))
        sf.write(files[-1], y, rate)
    assert main(["--home", str(home), "predict", *files, "--json"]) == 1
    out, err = capsys.readouterr()
    answers = [json.loads(line) for line in out.splitlines()]
    assert [a["file"] for a in answers] == files[2:]
    assert all(np.isfinite(list(a["probabilities"].values())).all() for a in answers)
    assert f"{files[0]}: error: " in err and "too short" in err
    assert f"{files[1]}: error: " in err and "silent" in err
