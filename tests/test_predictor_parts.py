"""The predictor without a network, in seconds: members that disagree, stacking, segment times, decoding limits,
what is saved and what a load refuses (tones written here; the VGG16 half is in test_predictor.py)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf
from sklearn.linear_model import LogisticRegression

from genre.config import FeatureConfig
from genre.data.audio import AudioError, load
from genre.features.extractor import analyse, clip_features, feature_names, versions
from genre.models.ensemble import Combiner
from genre.serving.predictor import ENSEMBLE, META_FILE, Classification, IncompatibleModel, Predictor
from genre.serving.reference import Reference
from genre.validation.feature_profile import FeatureProfile
from tests.conftest import write_tone

CFG = FeatureConfig()
RATE = CFG.sample_rate
LABELS = ["low", "high"]


@pytest.fixture(scope="module")
def training(tmp_path_factory) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Segment features, labels and clip ids of four tones: 220 Hz ("low") and 880 Hz ("high"), two seeds each."""
    folder = tmp_path_factory.mktemp("tones")
    feats, ys, clips = [], [], []
    for k, freq in enumerate((220.0, 880.0)):
        for seed in range(2):
            y = load(write_tone(folder / f"{k}-{seed}.wav", freq=freq * (1 + 0.02 * seed), seed=seed), RATE)
            f = clip_features(y, CFG).features
            feats.append(f)
            ys += [k] * len(f)
            clips += [f"{k}-{seed}"] * len(f)
    return np.concatenate(feats), np.array(ys), np.array(clips)


@pytest.fixture(scope="module")
def members(training) -> dict[str, LogisticRegression]:
    """Two members that disagree: one learnt the labels, the other the labels swapped."""
    X, y, _ = training
    return {"right": LogisticRegression(max_iter=500).fit(X, y), "wrong": LogisticRegression(max_iter=500).fit(X, 1 - y)}


def predictor(members, combiner: Combiner, training, **kw) -> Predictor:
    X = training[0]
    return Predictor(labels=LABELS, features=CFG, classical=members, combiner=combiner,
                     profile=FeatureProfile.learn(X, feature_names(CFG)), **kw)


def weighted(right: float) -> Combiner:
    return Combiner("weighted", ["right", "wrong"], [right, 1 - right], n_classes=2)


def stacking(members, training) -> Combiner:
    """A stacker on the members' log-probabilities: not linear, so a mean of combined segments is not a combined
    mean of segments."""
    X, y, _ = training
    logs = np.hstack([np.log(np.clip(members[m].predict_proba(X), 1e-6, 1.0)) for m in ("right", "wrong")])
    return Combiner("stacking", ["right", "wrong"], stacker=LogisticRegression(C=0.01).fit(logs, y), n_classes=2)


def tone(seconds: float, freq: float = 225.0, seed: int = 7) -> np.ndarray:
    t = np.arange(int(seconds * RATE)) / RATE
    return (0.3 * np.sin(2 * np.pi * freq * t) + 0.01 * np.random.default_rng(seed).standard_normal(len(t))
            ).astype(np.float32)


def test_a_clip_is_the_combination_of_the_members_clip_means(members, training) -> None:
    y = tone(7.5)
    feats = clip_features(y, CFG).features
    right, wrong = members["right"].predict_proba(feats), members["wrong"].predict_proba(feats)
    assert right[:, 0].mean() > 0.9 and wrong[:, 0].mean() < 0.1  # the members disagree about this clip
    result = predictor(members, weighted(0.75), training).classify_signal(y)
    assert list(result.probabilities) == LABELS
    np.testing.assert_allclose(list(result.probabilities.values()),
                               0.75 * right.mean(axis=0) + 0.25 * wrong.mean(axis=0), rtol=1e-4)
    assert result.genre == "low" and result.seconds == 7.5
    assert predictor(members, weighted(0.25), training).classify_signal(y).genre == "high"
    stacked = predictor(members, stacking(members, training), training)
    combined = stacked.combiner.combine({"right": right.mean(axis=0, keepdims=True),
                                         "wrong": wrong.mean(axis=0, keepdims=True)})[0]
    assert not np.allclose(combined, stacked.combiner.combine({"right": right, "wrong": wrong}).mean(axis=0))
    np.testing.assert_allclose(list(stacked.classify_signal(y).probabilities.values()), combined, rtol=1e-4)


def test_each_segment_has_its_times_and_its_own_combined_probabilities(members, training) -> None:
    y = tone(7.5)
    feats = clip_features(y, CFG).features
    rows = 0.75 * members["right"].predict_proba(feats) + 0.25 * members["wrong"].predict_proba(feats)
    segments = predictor(members, weighted(0.75), training).classify_signal(y).segments
    assert [(s.start, s.end) for s in segments] == [(0.0, 3.0), (1.5, 4.5), (3.0, 6.0), (4.5, 7.5)]
    for segment, row in zip(segments, rows, strict=True):
        assert list(segment.probabilities) == LABELS
        np.testing.assert_allclose(list(segment.probabilities.values()), row, rtol=1e-4)
    short = predictor(members, weighted(0.75), training).classify_signal(tone(1.5))  # repeated to fill 3 s
    assert len(analyse(tone(1.5), CFG).y) == 3 * RATE
    assert [(s.start, s.end) for s in short.segments] == [(0.0, 1.5)] and short.seconds == 1.5


def test_clips_are_member_means_in_first_seen_order_and_the_ensemble_combines_them(members, training) -> None:
    a, b = clip_features(tone(4.5), CFG), clip_features(tone(6.0, freq=870.0, seed=3), CFG)
    features, mels = np.concatenate([b.features, a.features]), np.concatenate([b.mels, a.mels])
    clips = np.array(["b"] * len(b.features) + ["a"] * len(a.features))
    model = predictor(members, stacking(members, training), training)
    out = model.predict_clips(features, mels, clips)
    assert set(out) == {"right", "wrong", "ensemble"} and ENSEMBLE == "ensemble"
    for name in ("right", "wrong"):
        expected = [members[name].predict_proba(f).mean(axis=0) for f in (b.features, a.features)]
        np.testing.assert_allclose(out[name], expected, rtol=1e-4)
    np.testing.assert_allclose(out[ENSEMBLE], model.combiner.combine({k: out[k] for k in ("right", "wrong")}))
    assert out[ENSEMBLE].argmax(axis=1).tolist() == [1, 0]  # b is the high tone
    segments = model.predict_segments(features, mels)
    np.testing.assert_allclose(segments, model.combiner.combine(
        {k: members[k].predict_proba(features) for k in ("right", "wrong")}))


def test_a_classification_carries_the_clips_mean_features_and_its_times_in_milliseconds(members, training) -> None:
    y = tone(2.0)[: int(1.5 * RATE) + 7]  # 1.50032 s, one segment (repeated to fill it) ending where the clip ends
    result = predictor(members, weighted(1.0), training).classify_signal(y)
    assert result.seconds == 1.5 and [(s.start, s.end) for s in result.segments] == [(0.0, 1.5)]  # milliseconds
    np.testing.assert_allclose(result.features, clip_features(y, CFG).features.mean(axis=0), rtol=1e-6)
    assert len(result.features) == len(feature_names(CFG))  # one value per feature, for the prediction log
    with pytest.raises(AudioError, match=r"^audio: 0.50 s of audio is too short"):  # a signal without a name
        predictor(members, weighted(1.0), training).classify_signal(tone(0.5))


def test_unusual_features_only_with_a_profile(members, training) -> None:
    noise = np.random.default_rng(0).uniform(-1, 1, 4 * RATE).astype(np.float32)
    assert "flatness_mean" in predictor(members, weighted(1.0), training).classify_signal(noise).unusual_features
    bare = Predictor(labels=LABELS, features=CFG, classical=members, combiner=weighted(1.0))
    assert bare.classify_signal(noise).unusual_features == []


def test_decode_keeps_at_most_max_seconds_and_says_whether_there_was_more(members, training, tmp_path) -> None:
    model = predictor(members, weighted(1.0), training)
    path = tmp_path / "five.wav"
    sf.write(path, tone(5.0), RATE)
    y, longer = model.decode(path)
    assert len(y) == 5 * RATE and not longer
    y, longer = model.decode(path, max_seconds=2.0)
    assert len(y) == 2 * RATE and longer
    np.testing.assert_array_equal(y, load(path, RATE)[: 2 * RATE])
    y, longer = model.decode(path, max_seconds=5.0)
    assert len(y) == 5 * RATE and not longer
    sf.write(path, tone(5.0 + 100 / RATE), RATE)  # 100 samples over: a resampler's rounding, not a longer file
    assert model.decode(path, max_seconds=5.0)[1] is False
    sf.write(path, tone(5.0 + 300 / RATE), RATE)
    assert model.decode(path, max_seconds=5.0)[1] is True
    sf.write(path, tone(5.5), RATE)
    assert model.decode(path, max_seconds=4.6)[1] is True


def test_classify_file_names_the_file_in_its_errors(members, training, tmp_path) -> None:
    model = predictor(members, weighted(1.0), training)
    sf.write(tmp_path / "blip.wav", tone(0.5), RATE)
    with pytest.raises(AudioError, match=r"^blip.wav: 0.50 s of audio is too short"):
        model.classify_file(tmp_path / "blip.wav")
    sf.write(tmp_path / "song.wav", tone(4.0), RATE)
    assert model.classify_file(tmp_path / "song.wav").genre == "low"


def test_save_writes_the_members_combiner_profile_and_metadata_and_load_restores_them(members, training,
                                                                                      tmp_path) -> None:
    X, y, clips = training
    reference = Reference.learn(X, clips, y, feature_names(CFG), LABELS)
    model = predictor(members, stacking(members, training), training, image_size=32, info={"run": "r1"},
                      reference=reference)
    folder = model.save(tmp_path / "nested" / "p")
    assert sorted(p.name for p in folder.iterdir()) == ["classical.joblib", "feature_profile.json",
                                                         "predictor.json", "reference.npz"]
    meta = json.loads((folder / META_FILE).read_text())
    assert meta == {"labels": LABELS, "features": CFG.model_dump(mode="json"), "members": ["right", "wrong"],
                    "ensemble": "logistic regression stacked on right, wrong", "method": "stacking",
                    "image_size": 32, "has_cnn": False, "info": {"run": "r1"}, "feature_versions": versions(),
                    "format": 3}
    loaded = Predictor.load(folder)
    assert (loaded.labels, loaded.features, loaded.members, loaded.image_size, loaded.info, loaded.cnn) == (
        LABELS, CFG, ["right", "wrong"], 32, {"run": "r1"}, None)
    assert loaded.profile == model.profile and loaded.combiner.method == "stacking"
    assert loaded.reference is not None and loaded.reference.genres == reference.genres
    song = tone(6.0, freq=880.0)
    assert loaded.classify_signal(song).probabilities == model.classify_signal(song).probabilities
    bare = Predictor(labels=LABELS, features=CFG, classical=members, combiner=weighted(0.5)).save(tmp_path / "bare")
    assert sorted(p.name for p in bare.iterdir()) == ["classical.joblib", "predictor.json"]
    assert json.loads((bare / META_FILE).read_text())["image_size"] == 64  # the VGG16 input size by default
    again = Predictor.load(bare)
    assert again.profile is None and again.reference is None and again.info == {}


@pytest.mark.parametrize(("change", "message"), [
    ({"format": 1}, r"saved in an older format \(one classical model and a VGG16 weight\): retrain it"),
    ({"feature_versions": None}, r"versions \{'features': 1, 'mels': 1\}, but this code computes"),
])
def test_load_refuses_older_models_saying_what_to_do(members, training, tmp_path, change, message) -> None:
    folder = Predictor(labels=LABELS, features=CFG, classical=members, combiner=weighted(0.5)).save(tmp_path / "p")
    meta = json.loads((folder / META_FILE).read_text())
    meta.update(change)
    meta = {k: v for k, v in meta.items() if v is not None}  # None: a key older predictors did not write
    (folder / META_FILE).write_text(json.dumps(meta))
    with pytest.raises(IncompatibleModel, match=message) as refused:
        Predictor.load(folder)
    assert str(folder) in str(refused.value)
    assert str(refused.value).endswith("it (`genre run`) and serve the new champion.")  # what to do, in full


def test_the_genre_is_the_most_probable_label() -> None:
    assert Classification({"a": 0.2, "b": 0.7, "c": 0.1}, []).genre == "b"


def test_decoding_stops_a_second_past_the_limit(members, training, tmp_path, monkeypatch) -> None:
    import genre.serving.predictor as predictor_module

    decoded = []

    def counting_load(*args, **kwargs) -> np.ndarray:
        decoded.append(load(*args, **kwargs))
        return decoded[-1]

    monkeypatch.setattr(predictor_module, "load", counting_load)
    path = tmp_path / "long.wav"
    sf.write(path, tone(10.0), RATE)
    model = predictor(members, weighted(1.0), training)
    y, longer = model.decode(path, max_seconds=2.0)
    assert len(y) == 2 * RATE and longer
    assert len(decoded[-1]) == 3 * RATE  # a long upload is never decoded whole
    sf.write(path, tone(5.0 + 220 / RATE), RATE)  # exactly 1/100 s over: still rounding
    y, longer = model.decode(path, max_seconds=5.0)
    assert len(y) == 5 * RATE and longer is False


def test_each_member_gets_its_own_input_features_mels_or_embeddings(members, training) -> None:
    import keras

    from genre.features.pretrained import MEMBER
    from genre.models import vgg16

    a, b = clip_features(tone(4.5), CFG), clip_features(tone(6.0, freq=870.0, seed=3), CFG)
    features, mels = np.concatenate([a.features, b.features]), np.concatenate([a.mels, b.mels])
    clips = np.repeat(["a", "b"], [len(a.features), len(b.features)])
    embeddings = np.where(clips == "a", 1.0, -1.0)[:, None] * np.ones((1, 8))  # stand-ins for the network's
    head = LogisticRegression().fit(np.vstack([np.ones((3, 8)), -np.ones((3, 8))]), [1, 1, 1, 0, 0, 0])
    network = keras.Sequential([keras.Input((32, 32, 3)), keras.layers.GlobalAveragePooling2D(),
                                keras.layers.Dense(2, activation="softmax")])
    model = Predictor(labels=LABELS, features=CFG, classical={"right": members["right"], MEMBER: head},
                      combiner=Combiner("average", ["right", MEMBER, "vgg16"], [1 / 3] * 3, n_classes=2),
                      cnn=network, image_size=32)
    expected = {"right": members["right"].predict_proba(features), MEMBER: head.predict_proba(embeddings),
                "vgg16": vgg16.predict(network, mels, 32, CFG.top_db)}
    np.testing.assert_allclose(model.predict_segments(features, mels, embeddings), sum(expected.values()) / 3,
                               rtol=1e-5)
    out = model.predict_clips(features, mels, clips, embeddings)
    for name, probs in expected.items():
        np.testing.assert_allclose(out[name], [probs[clips == c].mean(axis=0) for c in "ab"], rtol=1e-5)
    assert out[MEMBER].argmax(axis=1).tolist() == [1, 0]  # the embeddings, not the features, decided
    with pytest.raises(ValueError, match=f"the {MEMBER} member needs the segments' pretrained embeddings"):
        model.predict_clips(features, mels, clips)


def test_saving_again_into_the_same_folder_replaces_the_predictor(members, tmp_path) -> None:
    folder = Predictor(labels=LABELS, features=CFG, classical=members, combiner=weighted(0.5),
                       info={"run": "r1"}).save(tmp_path / "p")
    Predictor(labels=LABELS, features=CFG, classical=members, combiner=weighted(0.75), info={"run": "r2"}).save(folder)
    again = Predictor.load(folder)
    assert again.info == {"run": "r2"} and again.combiner.weights == [0.75, 0.25]
