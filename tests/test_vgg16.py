"""VGG16: precision from the hardware, transfer from a local weights file with a cached base, clear errors about
weights and sizes, and a killed training that resumes at its last finished epoch."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from genre.config import CNNConfig
from genre.models import vgg16
from genre.models.vgg16_training import BASE_FORWARD, Data, EpochLoop, augment, fit, mixup

N_MELS, FRAMES, TOP_DB = 32, 40, 80.0


def toy_data(n_per_class: int = 12, seed: int = 0) -> Data:
    """Two 'genres' a network can tell apart: energy in low bands vs in high bands, with noise."""
    rng = np.random.default_rng(seed)
    mels, y = [], []
    for k in (0, 1):
        for _ in range(n_per_class):
            m = rng.uniform(-80, -60, (N_MELS, FRAMES))
            band = slice(2, 10) if k == 0 else slice(20, 28)
            m[band] = rng.uniform(-20, 0, (8, FRAMES))
            mels.append(m)
            y.append(k)
    mels, y = np.array(mels, dtype=np.float16), np.array(y)
    order = rng.permutation(len(y))
    mels, y = mels[order], y[order]
    half = len(y) // 2
    return Data(mels=mels[:half], y=y[:half], val_mels=mels[half:], val_y=y[half:],
                val_clips=np.arange(len(y) - half).astype(str), n_classes=2, top_db=TOP_DB)


def test_precision_follows_the_processor_and_can_be_forced(monkeypatch) -> None:
    monkeypatch.delenv("GENRE_PRECISION", raising=False)
    monkeypatch.setattr(vgg16, "cpu_flags", lambda: frozenset({"avx512f", "avx512_bf16"}))
    assert vgg16.precision()[0] == "bfloat16" and "avx512_bf16" in vgg16.precision()[1]
    monkeypatch.setattr(vgg16, "cpu_flags", lambda: frozenset({"amx_bf16", "amx_tile"}))
    assert vgg16.precision()[0] == "bfloat16"
    monkeypatch.setattr(vgg16, "cpu_flags", lambda: frozenset({"avx2", "fma"}))
    assert vgg16.precision() == ("float32", "no bf16 instructions on this processor and no bf16 GPU")
    assert vgg16.precision("bfloat16") == ("bfloat16", "set by cnn.precision")
    monkeypatch.setenv("GENRE_PRECISION", "float32")
    assert vgg16.precision("bfloat16") == ("float32", "set by GENRE_PRECISION")
    monkeypatch.setenv("GENRE_PRECISION", "fp8")
    with pytest.raises(ValueError, match="expected auto, bfloat16 or float32"):
        vgg16.precision()


def test_bf16_training_leaves_the_process_in_float32(tmp_path: Path) -> None:
    """The precision is VGG16's, not the process's: a bf16 training keeps bf16 in its own layers and restores the
    global policy, so a network built after it (the musicnn port, which must match the original's float32) is not
    built in bf16."""
    import keras

    from genre.features.pretrained import build

    trained = fit(toy_data(4), CNNConfig(image_size=32, epochs=1, batch_size=4, precision="bfloat16"), tmp_path,
                  progress=False)
    assert keras.mixed_precision.global_policy().name == "float32"
    convolutions = [l for l in trained.model.get_layer("vgg16").layers if isinstance(l, keras.layers.Conv2D)]
    assert {l.compute_dtype for l in convolutions} == {"bfloat16"} and trained.info()["cnn_precision"] == "bfloat16"
    assert {l.compute_dtype for l in build("MSD_musicnn").layers} == {"float32"}


def test_prediction_is_traced_once_for_any_batch_size() -> None:
    model = vgg16.build(3, CNNConfig(image_size=32, precision="float32"))
    mels = np.random.default_rng(0).uniform(-80, 0, (7, N_MELS, FRAMES)).astype(np.float16)
    for n in (1, 4, 7, 2):
        probs = vgg16.predict(model, mels[:n], 32, TOP_DB, batch_size=4)  # 7: a full batch and a short one
        assert probs.shape == (n, 3) and np.allclose(probs.sum(axis=1), 1.0, atol=1e-5)
    assert model._genre_forward.experimental_get_tracing_count() == 1


def test_augmentation_masks_and_shifts_but_never_flips() -> None:
    m = np.tile(np.linspace(-80, 0, N_MELS)[:, None], (1, FRAMES)).astype(np.float32)[None]
    out = augment(m, np.random.default_rng(0))[0]
    masked = np.isclose(out, m.mean())  # masks hold the segment's mean level, not silence (an outlier)
    rows, columns = masked.all(axis=1), masked.all(axis=0)
    assert rows.any() and columns.any()  # a frequency band and a time band
    kept = out[~rows][:, ~columns]
    assert np.all(np.diff(kept.max(axis=1)) > 0)  # low frequencies stay low: no flip of the frequency axis


def test_mixup_blends_images_targets_and_class_weights_alike() -> None:
    rng = np.random.default_rng(0)
    x, targets, weights = rng.normal(size=(6, 4, 4, 3)), np.eye(3)[[0, 0, 1, 1, 2, 2]], np.arange(1.0, 7.0)
    mixed_x, mixed_t, mixed_w = mixup(x, targets, weights, 0.4, np.random.default_rng(1))
    draw = np.random.default_rng(1)  # the same draws: each row's own share, then its partner
    share, other = draw.beta(0.4, 0.4, 6).astype(np.float32), draw.permutation(6)
    assert np.allclose(mixed_x, share[:, None, None, None] * x + (1 - share[:, None, None, None]) * x[other])
    assert np.allclose(mixed_t, share[:, None] * targets + (1 - share[:, None]) * targets[other])
    assert np.allclose(mixed_w, share * weights + (1 - share) * weights[other])
    assert np.allclose(mixed_t.sum(axis=1), 1.0) and not np.allclose(mixed_t, targets)


def test_training_batches_carry_target_rows_and_balanced_class_weights() -> None:
    data = toy_data()
    data.y[:9] = 0  # unbalanced: 9+ of class 0 in 12
    counts = np.bincount(data.y, minlength=2)
    for alpha in (0.0, 0.4):
        loop = EpochLoop(None, data, CNNConfig(image_size=32, batch_size=5, mixup=alpha), Path("unused"), False)
        batches = list(loop.batches(0))
        x = np.concatenate([b[0] for b in batches])
        t, w = np.concatenate([b[1] for b in batches]), np.concatenate([b[2] for b in batches])
        assert x.shape == (len(data.y), 32, 32, 3) and t.shape == (len(data.y), 2) and np.allclose(t.sum(axis=1), 1)
        balanced = len(data.y) / (2 * counts)  # each class weighs the same in all
        if alpha == 0:
            assert set(np.unique(t)) == {0.0, 1.0}
            assert np.allclose(w, balanced[t.argmax(axis=1)]) and np.isclose(w[t[:, 1] == 1].sum(), len(data.y) / 2)
        else:
            assert ((t > 0.01) & (t < 0.99)).any()  # blended targets
            assert np.all((w >= balanced.min() - 1e-6) & (w <= balanced.max() + 1e-6))


def test_a_mixup_training_says_so_in_the_models_info(tmp_path: Path) -> None:
    cfg = CNNConfig(image_size=32, epochs=2, batch_size=4, mixup=0.4, precision="float32")
    trained = fit(toy_data(), cfg, tmp_path, progress=False)
    assert "mixup: images and targets blended at Beta(0.4, 0.4) shares" in trained.info()["cnn_notes"]
    assert len(trained.history["loss"]) == 2 and np.isfinite(trained.history["loss"]).all()


def demo_data(genres: int = 3, clips: int = 8, seconds: float = 4.5) -> tuple[Data, np.ndarray, np.ndarray]:
    """Mel arrays of the SYNTHETIC demo's first ``genres``: 5 clips per genre to train, 1 to validate, the rest to
    test (returned as test mels and test clip labels, one row per segment)."""
    from genre.config import FeatureConfig
    from genre.data.demo import STYLES, render_clip
    from genre.features.extractor import clip_features

    parts: dict[str, list] = {"train": [], "val": [], "test": []}
    for g, style in enumerate(list(STYLES.values())[:genres]):
        for i in range(clips):
            mels = clip_features(render_clip(style, seed=1000 * g + i, seconds=seconds), FeatureConfig()).mels
            part = "train" if i < 5 else "val" if i == 5 else "test"
            parts[part] += [(m, g, f"{g}-{i}") for m in mels]
    (mels, y, _), (val_mels, val_y, val_clips), (test_mels, test_y, _) = (
        (np.array([r[k] for r in parts[p]]) for k in range(3)) for p in ("train", "val", "test"))
    data = Data(mels=mels, y=y, val_mels=val_mels, val_y=val_y, val_clips=val_clips, n_classes=genres, top_db=80.0)
    return data, test_mels, test_y


def test_the_demo_learns_from_scratch_with_the_default_config(tmp_path: Path) -> None:
    """VGG16 from scratch, default config, on a small part of the synthetic demo: held-out segments are classified
    well above chance. (Glorot init on the raw +-128 input, the old default, stays at chance here.)"""
    data, test_mels, test_y = demo_data()
    cfg = CNNConfig(precision="float32", epochs=8)  # the defaults but for the epochs: fewer clips learn sooner
    trained = fit(data, cfg, tmp_path, progress=False)
    assert trained.info()["cnn_notes"][1].startswith("input: " + vgg16.PREPROCESSING + " + per-channel")
    assert not any("mixup" in note for note in trained.info()["cnn_notes"])  # off by default
    probs = vgg16.predict(trained.model, test_mels, cfg.image_size, 80.0)
    accuracy = float(np.mean(probs.argmax(axis=1) == test_y))
    assert accuracy >= 0.6, f"test segment accuracy {accuracy:.2f} (chance {1 / data.n_classes:.2f})"


@pytest.fixture(scope="module")
def weights_file(tmp_path_factory) -> Path:
    """A VGG16 no-top weights file written here (the same call loads ImageNet's where it can be downloaded)."""
    path = tmp_path_factory.mktemp("weights") / "vgg16_notop.weights.h5"
    vgg16.build_base(CNNConfig(image_size=32, weights="none")).save_weights(path)
    return path


def test_transfer_from_a_local_file_caches_the_base_and_learns(weights_file: Path, tmp_path: Path) -> None:
    data = toy_data()
    cfg = CNNConfig(image_size=32, weights=str(weights_file), head_epochs=40, precision="float32")
    before = sum(BASE_FORWARD.values())
    first = fit(data, cfg, tmp_path, progress=False)
    sent = sum(BASE_FORWARD.values()) - before
    assert sent == len(data.y) + len(data.val_y)  # every image through the frozen base once
    assert first.mode == "transfer" and first.info()["cnn_weights"] == str(weights_file)
    assert max(first.history["val_roc_auc"]) >= 0.9  # the head separates the toy genres
    again = fit(data, cfg, tmp_path, progress=False)
    assert sum(BASE_FORWARD.values()) - before == sent  # the rerun sent nothing through the base
    probs = vgg16.predict(again.model, data.val_mels, 32, TOP_DB)
    assert probs.shape == (len(data.val_y), 2) and np.allclose(probs.sum(axis=1), 1, atol=1e-5)


def test_bad_weights_and_sizes_are_named(tmp_path: Path) -> None:
    import keras

    wrong = tmp_path / "dense.weights.h5"
    keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)]).save_weights(wrong)
    with pytest.raises(ValueError, match=r"dense.weights.h5: not VGG16 no-top weights"):
        vgg16.build_base(CNNConfig(image_size=32, weights=str(wrong)))
    with pytest.raises(FileNotFoundError, match=r"missing.h5 does not exist"):
        vgg16.build_base(CNNConfig(image_size=32, weights=str(tmp_path / "missing.h5")))
    with pytest.raises(ValueError, match=r"cnn.image_size 16 is too small: VGG16 needs at least 32x32"):
        vgg16.build_base(CNNConfig(image_size=16))


TRAINER = """
import sys
import numpy as np
sys.path.insert(0, sys.argv[2])
from tests.test_vgg16 import toy_data
from genre.config import CNNConfig
from genre.models.vgg16_training import fit
cfg = CNNConfig(image_size=32, epochs=int(sys.argv[3]), batch_size=4, patience=50, precision="float32")
result = fit(toy_data(n_per_class=16), cfg, sys.argv[1], progress=False)
print("DONE resumed_at", result.resumed_at, "epochs", len(result.history["loss"]), flush=True)
"""


def test_a_killed_training_resumes_at_its_last_finished_epoch(tmp_path: Path) -> None:
    script = tmp_path / "trainer.py"
    script.write_text(TRAINER)
    cmd = [sys.executable, str(script), str(tmp_path / "cnn"), str(Path(__file__).resolve().parents[1]), "5"]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    first = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    state = None
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and first.poll() is None:
        states = list((tmp_path / "cnn").rglob("state.json"))
        if states and json.loads(states[0].read_text())["epoch"] >= 1:  # two epochs finished
            state = states[0]
            break
        time.sleep(0.2)
    assert state is not None, "the training never finished two epochs"
    first.send_signal(signal.SIGKILL)
    first.wait()
    done = json.loads(state.read_text())["epoch"] + 1
    assert done < 5
    second = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    assert second.returncode == 0, second.stdout + second.stderr
    printed = [line for line in second.stdout.splitlines() if line.startswith("VGG16 epoch")]
    assert printed[0].startswith(f"VGG16 epoch {done + 1}/5"), printed  # no epoch trained twice
    assert len(printed) == 5 - done
    assert f"resuming after epoch {done} of 5" in second.stdout
    assert f"DONE resumed_at {done} epochs 5" in second.stdout  # the history holds every epoch
