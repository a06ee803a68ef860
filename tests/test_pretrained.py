"""The Keras port of musicnn: parity with the original TF1 code, its preprocessing, the embedding cache, and the
pretrained member from training to serving."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from genre.config import FeatureConfig, PretrainedConfig, load_config
from genre.data.audio import load
from genre.data.store import sha256_file
from genre.features import pretrained as musicnn
from genre.features.dataset import FeatureCache, extract_dataset
from genre.models.ensemble import Combiner
from genre.models.pretrained import train_pretrained
from genre.models.train import Split
from genre.serving.predictor import ENSEMBLE, PRETRAINED, IncompatibleModel, Predictor

FIXTURE = Path(__file__).parent / "data" / "musicnn_reference.npz"
# The port against musicnn's own TF1 code (scripts/musicnn_reference.py), end to end from the audio file: the
# largest difference measured was 7.6e-05 on max_pool (values up to ~110), under 1e-6 on the taggrams, on an AVX2
# processor; up to 2.7e-04 on max_pool, on values of 1 and of 100 alike, and 2.6e-06 on the taggrams on an AVX-512
# one, whose kernels sum in another order (and vary from run to run). A port run in bf16 misses the taggrams by up
# to 3e-02 and fails.
ATOL, RTOL = 1e-3, 1e-4
MSD = PretrainedConfig(checkpoint="MSD_musicnn", layer="max_pool")


def test_port_matches_the_original_network(gtzan_mini: Path) -> None:
    meta = json.loads(FIXTURE.with_suffix(".json").read_text())
    ref = np.load(FIXTURE)
    worst = {}
    for checkpoint in meta["checkpoints"]:
        model = musicnn.build(checkpoint)
        assert set(model.output) == set(musicnn.layers_of(checkpoint))
        for i, clip in enumerate(meta["clips"]):
            mel = musicnn.log_mel(load(gtzan_mini / clip, musicnn.SAMPLE_RATE))
            patches = musicnn.patches_at(mel, [k * musicnn.PATCH_FRAMES for k in range(meta["patches"])])
            out = model(patches, training=False)
            for layer in musicnn.layers_of(checkpoint):
                expected = ref[f"{checkpoint}/{i}/{layer}"]
                got = np.asarray(out[layer])
                np.testing.assert_allclose(got, expected, rtol=RTOL, atol=ATOL, err_msg=f"{checkpoint} {layer}")
                worst[checkpoint, layer] = max(worst.get((checkpoint, layer), 0.0), float(np.abs(got - expected).max()))
            if checkpoint == "MSD_musicnn":  # the compiled path the pipeline and the service use
                np.testing.assert_allclose(musicnn.embed(patches, checkpoint, "max_pool"),
                                           ref[f"{checkpoint}/{i}/max_pool"], rtol=RTOL, atol=ATOL)
        # the patches differ, so a port that repeated the first patch (the original extractor's bug) would fail
        assert not np.allclose(ref[f"{checkpoint}/0/taggram"][0], ref[f"{checkpoint}/0/taggram"][1])
    print("largest differences:", {f"{c} {layer}": f"{e:.1e}" for (c, layer), e in worst.items()})


def test_the_forward_pass_is_traced_once_for_any_number_of_patches() -> None:
    """A clip of another length (another number of patches) must not trace the graph again: a trace costs about a
    CPU-second, which a service would spend on the first request of every new length."""
    rng = np.random.default_rng(0)
    forward = musicnn._forward("MSD_musicnn", "max_pool", None)
    before = forward.experimental_get_tracing_count()
    for n in (1, 3, 5, 2):
        out = musicnn.embed(rng.standard_normal((n, musicnn.PATCH_FRAMES, musicnn.N_MELS)), "MSD_musicnn", "max_pool")
        assert out.shape[0] == n and out.dtype == np.float32
    assert forward.experimental_get_tracing_count() - before <= 1  # 0 where an earlier test traced it


def test_input_is_float32_and_finite_on_loud_audio() -> None:
    t = np.arange(3 * musicnn.SAMPLE_RATE) / musicnn.SAMPLE_RATE
    mel = musicnn.log_mel(np.sign(np.sin(2 * np.pi * 440 * t)).astype(np.float32))  # full-scale square wave
    assert mel.dtype == np.float32 and mel.shape == (188, musicnn.N_MELS)
    assert np.isfinite(mel).all() and mel.max() > 4.8  # float16 would have overflowed to inf here


def test_short_clip_is_repeated_to_one_patch() -> None:
    cfg = FeatureConfig()
    rng = np.random.default_rng(0)
    short = (0.1 * rng.standard_normal(int(1.5 * cfg.sample_rate))).astype(np.float32)
    patches = musicnn.segment_patches(short, cfg)
    assert patches.shape == (1, musicnn.PATCH_FRAMES, musicnn.N_MELS)
    filled = np.resize(short, int(cfg.segment_seconds * cfg.sample_rate))
    np.testing.assert_array_equal(patches, musicnn.segment_patches(filled, cfg))


def test_unavailable_says_why() -> None:
    assert musicnn.unavailable(MSD) == ""
    assert musicnn.unavailable(PretrainedConfig(checkpoint="none")) == "pretrained.checkpoint = none"
    assert "no layer 'max_pool'" in musicnn.unavailable(PretrainedConfig(checkpoint="MSD_vgg", layer="max_pool"))


def _catalog(paths: list[Path], labels: list[str]) -> pd.DataFrame:
    return pd.DataFrame({"clip_id": [p.stem for p in paths], "sha256": [sha256_file(p) for p in paths],
                         "label": labels})


def test_embeddings_are_cached_per_clip_checkpoint_and_layer(tone, tmp_path: Path) -> None:
    paths = [tone(f"c{i}.wav", freq=220.0 * (i + 1), seconds=4.5, seed=i) for i in range(3)]
    clips, cfg = _catalog(paths, ["a", "b", "a"]), FeatureConfig()
    first = extract_dataset(clips, paths, tmp_path / "cache", cfg, progress=False, pretrained=MSD)
    assert (first.stats.decoded, first.stats.embeddings) == (3, 3)
    assert first.embeddings.shape == (len(first.table), 753)
    again = extract_dataset(clips, paths, tmp_path / "cache", cfg, progress=False, pretrained=MSD,
                            out_root=tmp_path / "sets")
    assert (again.stats.decoded, again.stats.embeddings, again.stats.cached) == (0, 0, 3)
    np.testing.assert_array_equal(first.embeddings, again.embeddings)
    other = PretrainedConfig(checkpoint="MSD_musicnn", layer="penultimate")
    third = extract_dataset(clips, paths, tmp_path / "cache", cfg, progress=False, pretrained=other)
    assert (third.stats.features, third.stats.mels, third.stats.embeddings) == (0, 0, 3)  # only the new layer
    assert third.embeddings.shape == (len(third.table), 200)
    assert extract_dataset(clips, paths, tmp_path / "cache", cfg, progress=False).embeddings is None
    cache = FeatureCache(tmp_path / "cache", cfg, MSD)
    assert cache.path("embeddings", clips["sha256"][0]).parent.parent.name.startswith("embeddings-MSD_musicnn-max_pool-")

def test_patch_every_runs_the_network_on_every_nth_segment(gtzan_mini: Path, monkeypatch) -> None:
    cfg = FeatureConfig()
    y = load(gtzan_mini / "blues" / sorted(p.name for p in (gtzan_mini / "blues").glob("*.wav"))[0], cfg.sample_rate)
    every = musicnn.segment_embeddings(y, cfg, MSD.model_copy(update={"patch_every": 1}))
    seen = []
    embed = musicnn.embed
    monkeypatch.setattr(musicnn, "embed", lambda patches, *a, **k: seen.append(len(patches)) or embed(patches, *a, **k))
    second = musicnn.segment_embeddings(y, cfg, MSD.model_copy(update={"patch_every": 2}))
    n = len(every)
    assert n > 4 and second.shape == every.shape and seen == [(n + 1) // 2]
    np.testing.assert_allclose(second[::2], every[::2], rtol=RTOL, atol=ATOL)  # the segments the network saw
    np.testing.assert_array_equal(second[1::2], second[0:n - 1:2])  # and the ones between: the one before
    assert not np.allclose(every[1], every[0])  # which does differ from their own patch
    assert musicnn.embeddings_key(cfg, MSD) != musicnn.embeddings_key(cfg, MSD.model_copy(update={"patch_every": 1}))


@pytest.fixture(scope="module")
def three_genres(gtzan_mini: Path, tmp_path_factory) -> tuple[pd.DataFrame, list[Path], Path]:
    paths = sorted(p for g in ("blues", "classical", "metal") for p in (gtzan_mini / g).glob("*.wav"))
    home = tmp_path_factory.mktemp("pretrained")
    return _catalog(paths, [p.parent.name for p in paths]), paths, home


def test_member_serves_what_it_learnt(three_genres, monkeypatch) -> None:
    """Trained on cached embeddings, the member gives the same probabilities when the predictor computes the
    embeddings itself from the audio file (the serving path)."""
    clips, paths, home = three_genres
    cfg = load_config(home=str(home), workers=1, **{"classical.search_iterations": 2, "classical.cv_folds": 2})
    fs = extract_dataset(clips, paths, cfg.feature_cache, cfg.features, progress=False, pretrained=cfg.pretrained)
    labels = sorted(clips["label"].unique())
    test_clip = clips["clip_id"].iloc[0]
    assignment = {c: "test" if c == test_clip else "train" for c in clips["clip_id"]}
    train, test = (Split.of(fs, assignment, name, labels) for name in ("train", "test"))
    member = train_pretrained(train, None, cfg, progress=False)
    assert member.fitted.cv_roc_auc > 0.9 and member.describe() == "MSD_musicnn max_pool + logreg"
    predictor = Predictor(labels=labels, features=cfg.features, classical={PRETRAINED: member.fitted.model},
                          combiner=Combiner("member", [PRETRAINED], [1.0], n_classes=len(labels)),
                          pretrained=cfg.pretrained)
    folder = predictor.save(home / "predictor")
    # the model carries its checkpoint's variables: it serves where the musicnn wheel is not installed (a Bento)
    monkeypatch.setattr(musicnn, "find_spec", lambda name: None)
    musicnn.network.cache_clear()  # as in a new serving process: no network built from the wheel yet
    musicnn._forward.cache_clear()
    loaded = Predictor.load(folder)
    assert loaded.pretrained == cfg.pretrained and (folder / "pretrained" / "MSD_musicnn" / ".index").is_file()
    assert loaded.pretrained_dir == str(folder / "pretrained")
    served = loaded.classify_file(paths[0])
    learnt = loaded.predict_clips(test.X, test.mels, test.clips, test.E)[ENSEMBLE][0]
    np.testing.assert_allclose([served.probabilities[g] for g in labels], learnt, atol=1e-5)
    assert served.genre == "blues"


def test_a_model_from_other_embeddings_or_without_its_network_is_refused(tmp_path: Path, monkeypatch) -> None:
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(0)
    head = LogisticRegression().fit(rng.standard_normal((20, 4)), np.arange(20) % 2)
    predictor = Predictor(labels=["a", "b"], features=FeatureConfig(), classical={PRETRAINED: head},
                          combiner=Combiner("member", [PRETRAINED], [1.0], n_classes=2), pretrained=MSD)
    folder = predictor.save(tmp_path / "p")
    assert Predictor.load(folder).pretrained == MSD
    meta = json.loads((folder / "predictor.json").read_text())
    del meta["pretrained"]["patch_every"]  # saved before the key: it embedded every segment's own patch
    (folder / "predictor.json").write_text(json.dumps(meta))
    assert Predictor.load(folder).pretrained.patch_every == 1
    for version in (musicnn.EMBEDDINGS_VERSION + 1, None):  # another version, or none recorded
        meta["pretrained"].pop("version", None)
        meta["pretrained"].update({} if version is None else {"version": version})
        (folder / "predictor.json").write_text(json.dumps(meta))
        with pytest.raises(IncompatibleModel, match="pretrained embeddings this code no longer computes the same "
                                                    r"way: retrain it \(`genre run`\) and serve the new champion"):
            Predictor.load(folder)
    meta["pretrained"]["version"] = musicnn.EMBEDDINGS_VERSION
    (folder / "predictor.json").write_text(json.dumps(meta))
    shutil.rmtree(folder / "pretrained")  # neither its own copy of the checkpoint nor the musicnn wheel
    monkeypatch.setattr(musicnn, "find_spec", lambda name: None)
    with pytest.raises(IncompatibleModel, match=f"the model in {folder} needs its pretrained network: the musicnn "
                                                "package"):
        Predictor.load(folder)


def test_without_the_package_it_says_so(monkeypatch) -> None:
    monkeypatch.setattr(musicnn, "find_spec", lambda name: None)
    assert "musicnn package (its checkpoints) is not installed" in musicnn.unavailable(MSD)
