"""VGG16 (Keras 3) on mel-spectrogram images."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from genre.config import CNNConfig

_IMAGENET_BGR_MEAN = np.array([103.939, 116.779, 123.68], dtype=np.float32)


def preprocess(rgb: np.ndarray) -> np.ndarray:
    """uint8 RGB images -> VGG16's input (BGR, ImageNet mean removed), as keras.applications does."""
    return rgb[..., ::-1].astype(np.float32) - _IMAGENET_BGR_MEAN


def use_bf16() -> bool:
    """bf16 pays off only where the CPU has bf16 matrix units (AMX) or a GPU is present."""
    if os.environ.get("GENRE_BF16") in ("0", "1"):
        return os.environ["GENRE_BF16"] == "1"
    try:
        return "amx_bf16" in Path("/proc/cpuinfo").read_text()
    except OSError:
        return False


def resolve_weights(weights: str) -> str | None:
    """Config value -> what ``keras.applications.VGG16`` takes, with a clear error."""
    if weights in ("none", "", None):
        return None
    if weights == "imagenet":
        return "imagenet"
    path = Path(weights).expanduser()
    if not path.is_file():
        raise FileNotFoundError(
            f"VGG16 weights file {path} does not exist; set cnn.weights to 'none', 'imagenet' or an existing "
            "'*_notop.h5' file"
        )
    return str(path)


def build(n_classes: int, cfg: CNNConfig):
    """VGG16 conv base + global pooling + dropout + softmax head."""
    import keras

    keras.utils.set_random_seed(cfg.seed)
    if use_bf16():
        keras.mixed_precision.set_global_policy("mixed_bfloat16")
    try:
        base = keras.applications.VGG16(
            include_top=False, weights=resolve_weights(cfg.weights), input_shape=(cfg.image_size, cfg.image_size, 3)
        )
    except Exception as exc:
        if cfg.weights == "imagenet":
            raise RuntimeError(
                "could not fetch the ImageNet VGG16 weights (no internet?); download "
                "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5 elsewhere and set cnn.weights to its path, "
                "or use cnn.weights='none'"
            ) from exc
        raise
    base.trainable = cfg.trainable_base
    inputs = keras.Input((cfg.image_size, cfg.image_size, 3))
    x = base(inputs)
    x = keras.layers.GlobalAveragePooling2D()(x)
    x = keras.layers.Dropout(0.3)(x)
    outputs = keras.layers.Dense(n_classes, activation="softmax", dtype="float32")(x)
    model = keras.Model(inputs, outputs, name="vgg16_genre")
    model.compile(optimizer=keras.optimizers.Adam(cfg.learning_rate), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    return model


@dataclass
class TrainedCNN:
    """The Keras model and how its training went."""

    model: object
    history: dict[str, list[float]]
    fit_seconds: float
    weights: str


def _spec_augment(x: np.ndarray, rng: np.random.Generator, width: int) -> np.ndarray:
    """Mask one random band of rows (frequency) and of columns (time) per image."""
    x = x.copy()
    for img in x:
        f0, t0 = rng.integers(0, img.shape[0] - width, size=2)
        img[f0 : f0 + width] = 0.0
        img[:, t0 : t0 + width] = 0.0
    return x


def train(
    images: np.ndarray, y: np.ndarray, n_classes: int, cfg: CNNConfig,
    val: tuple[np.ndarray, np.ndarray] | None = None, verbose: int = 2,
) -> TrainedCNN:
    """Train VGG16 on uint8 RGB ``images`` with integer labels ``y``."""
    model = build(n_classes, cfg)
    x = preprocess(images)
    counts = np.bincount(y, minlength=n_classes).astype(np.float64)
    class_weight = {k: float(len(y) / (n_classes * c)) for k, c in enumerate(counts) if c > 0}
    rng = np.random.default_rng(cfg.seed)
    val_data = (preprocess(val[0]), val[1]) if val is not None and len(val[1]) else None
    history: dict[str, list[float]] = {}
    start = time.perf_counter()
    for epoch in range(cfg.epochs):
        h = model.fit(_spec_augment(x, rng, max(1, cfg.image_size // 10)), y, batch_size=cfg.batch_size,
                      epochs=epoch + 1, initial_epoch=epoch, class_weight=class_weight,
                      validation_data=val_data, verbose=verbose, shuffle=True)
        for k, v in h.history.items():
            history.setdefault(k, []).extend(float(a) for a in v)
    return TrainedCNN(model, history, time.perf_counter() - start, cfg.weights)


def predict(model, images: np.ndarray, batch_size: int = 64) -> np.ndarray:
    """Softmax probabilities of uint8 RGB ``images``, in float64."""
    import tensorflow as tf

    if len(images) == 0:
        return np.zeros((0, model.output_shape[-1]))
    forward = getattr(model, "_genre_forward", None)
    if forward is None:
        forward = tf.function(lambda t: model(t, training=False), reduce_retracing=True)
        model._genre_forward = forward
    out = [forward(tf.constant(preprocess(images[i : i + batch_size]))).numpy()
           for i in range(0, len(images), batch_size)]
    return np.concatenate(out).astype(np.float64)
