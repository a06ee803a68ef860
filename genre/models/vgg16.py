"""VGG16 (Keras 3) on mel-spectrogram images: the network, its one input preprocessing, precision and prediction.

Training (from scratch or on a frozen pretrained base) lives in :mod:`genre.models.vgg16_training`.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path

import numpy as np

from genre.config import CNNConfig
from genre.features.images import batch_rgb

# Identity of network_input(): part of every cache key of base outputs. Change it when the function changes.
PREPROCESSING = "magma-rgb/bgr-imagenet-mean/v1"
# What a network trained from scratch adds inside the model, before the base (see build()).
SCRATCH_INPUT = "per-channel standardisation on the training images"
_IMAGENET_BGR_MEAN = np.array([103.939, 116.779, 123.68], dtype=np.float32)
MIN_IMAGE_SIZE = 32  # keras.applications.VGG16 refuses smaller inputs
_LEVELS = np.linspace(-80.0, 0.0, 64 * 64, dtype=np.float32).reshape(1, 64, 64)  # every level, as one mel array


def network_input(mels: np.ndarray, image_size: int, top_db: float) -> np.ndarray:
    """The one preprocessing, for training, evaluation and serving alike: (n, n_mels, frames) mel dB arrays ->
    (n, size, size, 3) float32 VGG16 input (magma RGB image, as BGR with the ImageNet mean removed, as
    ``keras.applications.vgg16.preprocess_input`` does)."""
    rgb = batch_rgb(mels, image_size, top_db)
    return rgb[..., ::-1].astype(np.float32) - _IMAGENET_BGR_MEAN


@lru_cache(maxsize=1)
def cpu_flags() -> frozenset[str]:
    """The instruction-set flags of this machine's processor (empty where /proc/cpuinfo is unreadable)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                return frozenset(line.split(":", 1)[1].split())
    except OSError:
        pass
    return frozenset()


def _gpu_supports_bf16() -> bool:
    import tensorflow as tf

    for gpu in tf.config.list_physical_devices("GPU"):
        capability = tf.config.experimental.get_device_details(gpu).get("compute_capability") or (0, 0)
        if tuple(capability) >= (8, 0):  # Ampere and newer
            return True
    return False


def precision(setting: str = "auto") -> tuple[str, str]:
    """("bfloat16" | "float32", why): bf16 where the processor has bf16 instructions (AMX or AVX512_BF16) or a
    GPU supports it, float32 elsewhere. ``GENRE_PRECISION`` in the environment, then ``setting``, override."""
    forced = os.environ.get("GENRE_PRECISION") or setting
    if forced in ("bfloat16", "float32"):
        source = "GENRE_PRECISION" if os.environ.get("GENRE_PRECISION") else "cnn.precision"
        return forced, f"set by {source}"
    if forced != "auto":
        raise ValueError(f"precision {forced!r}: expected auto, bfloat16 or float32 (cnn.precision, GENRE_PRECISION)")
    found = sorted({"amx_bf16", "avx512_bf16"} & cpu_flags())
    if found:
        return "bfloat16", f"the processor has {' and '.join(found)}"
    if _gpu_supports_bf16():
        return "bfloat16", "a GPU with bf16 support"
    return "float32", "no bf16 instructions on this processor and no bf16 GPU"


@contextmanager
def precision_policy(name: str) -> Iterator[None]:
    """Keras's global dtype policy at ``name`` while VGG16 is built and trained (its layers keep it, saved and
    loaded with them), the previous policy restored after: a network built later in the same process, such as the
    musicnn port whose numbers must match the original's float32, is not built in bf16 by accident."""
    import keras

    before = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy("mixed_bfloat16" if name == "bfloat16" else "float32")
    try:
        yield
    finally:
        keras.mixed_precision.set_global_policy(before)


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
            "VGG16 no-top weights file ('*_notop.h5' or '*.weights.h5')"
        )
    return str(path)


def build_base(cfg: CNNConfig):
    """The VGG16 convolutional base (no top) for ``image_size`` square RGB inputs, weights as configured."""
    import keras

    if cfg.image_size < MIN_IMAGE_SIZE:
        raise ValueError(f"cnn.image_size {cfg.image_size} is too small: VGG16 needs at least "
                         f"{MIN_IMAGE_SIZE}x{MIN_IMAGE_SIZE} pixels")
    weights = resolve_weights(cfg.weights)
    try:
        return keras.applications.VGG16(include_top=False, weights=weights,
                                        input_shape=(cfg.image_size, cfg.image_size, 3))
    except Exception as exc:
        if weights == "imagenet":
            raise RuntimeError(
                "could not fetch the ImageNet VGG16 weights (no internet?); download "
                "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5 elsewhere and set cnn.weights to its path, "
                "or use cnn.weights='none'"
            ) from exc
        if weights is not None:
            raise ValueError(f"{weights}: not VGG16 no-top weights (13 convolution layers, 3x3 kernels, 3 input "
                             f"channels) that Keras can load: {exc}") from exc
        raise


def input_preprocessing(cfg: CNNConfig) -> str:
    """The whole input preprocessing of a model trained with ``cfg``: :func:`network_input`, and from scratch also
    the standardisation layer inside the model. Part of the checkpoint key and of the model's info."""
    return PREPROCESSING if resolve_weights(cfg.weights) else f"{PREPROCESSING} + {SCRATCH_INPUT}"


def channel_stats(batches: Iterable[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel mean and variance of network-input batches, accumulated one batch at a time."""
    n, total, squares = 0, np.zeros(3), np.zeros(3)
    for x in batches:
        flat = np.asarray(x, dtype=np.float64).reshape(-1, 3)
        n, total, squares = n + len(flat), total + flat.sum(axis=0), squares + (flat ** 2).sum(axis=0)
    if not n:
        raise ValueError("no training images to standardise the network input on")
    mean = total / n
    return mean, np.maximum(squares / n - mean ** 2, 1e-6)


def he_initialise(base, seed: int) -> None:
    """He-normal convolution kernels: a 13-layer ReLU stack without batch norm keeps its signal (Glorot halves the
    variance at every layer and the network trains to a constant output)."""
    import keras

    for i, layer in enumerate(l for l in base.layers if isinstance(l, keras.layers.Conv2D)):
        layer.kernel.assign(keras.initializers.HeNormal(seed=seed + i)(layer.kernel.shape))


def build(n_classes: int, cfg: CNNConfig, base=None, input_stats: tuple[np.ndarray, np.ndarray] | None = None):
    """VGG16 conv base + global average pooling + dropout + softmax head (float32 output), compiled.

    From scratch (no pretrained weights) the convolutions are He-initialised and the model starts with a
    per-channel standardisation of its input (``input_stats``: mean and variance from :func:`channel_stats` of the
    training images), saved with the model, so evaluation and serving feed it the same :func:`network_input`.
    Without ``input_stats`` it standardises as if every level of the colour map were equally likely. Pretrained
    weights take :func:`network_input` as is: it is the input they were trained on.
    """
    import keras

    keras.utils.set_random_seed(cfg.seed)
    scratch = base is None and resolve_weights(cfg.weights) is None
    base = base if base is not None else build_base(cfg)
    inputs = keras.Input((cfg.image_size, cfg.image_size, 3))
    x = inputs
    if scratch:
        he_initialise(base, cfg.seed)
        mean, variance = input_stats or channel_stats([network_input(_LEVELS, cfg.image_size, 80.0)])
        x = keras.layers.Normalization(mean=list(mean), variance=list(variance), name="standardise")(x)
    x = keras.layers.GlobalAveragePooling2D(name="pool")(base(x))
    x = keras.layers.Dropout(cfg.dropout, name="dropout")(x)
    outputs = keras.layers.Dense(n_classes, activation="softmax", dtype="float32", name="genre")(x)
    model = keras.Model(inputs, outputs, name="vgg16_genre")
    compile_model(model, cfg.learning_rate)
    return model


def compile_model(model, learning_rate: float, steps: int = 0, warmup: int = 0) -> None:
    """Adam at ``learning_rate``; with ``steps``, warmed up linearly from zero over ``warmup`` steps and then
    cosine-decayed to a tenth (Adam's first full-size steps blow up a deep ReLU stack without batch norm).
    Targets are class-probability rows (one-hot, or blended by mixup)."""
    import keras

    schedule = learning_rate
    if steps:
        schedule = keras.optimizers.schedules.CosineDecay(
            0.0, max(1, steps - warmup), alpha=0.1, warmup_target=learning_rate, warmup_steps=warmup)
    model.compile(optimizer=keras.optimizers.Adam(schedule), loss="categorical_crossentropy",
                  metrics=["accuracy"])


def predict(model, mels: np.ndarray, image_size: int, top_db: float, batch_size: int = 64) -> np.ndarray:
    """Softmax probabilities (float64) of mel dB arrays, streamed through :func:`network_input` in batches."""
    import tensorflow as tf

    if len(mels) == 0:
        return np.zeros((0, model.output_shape[-1]))
    forward = getattr(model, "_genre_forward", None)
    if forward is None:
        # one graph for any batch size: traced once, not again for the last, shorter batch or another clip length
        spec = tf.TensorSpec((None, *model.input_shape[1:]), tf.float32)
        forward = tf.function(lambda t: model(t, training=False), input_signature=[spec])
        model._genre_forward = forward
    out = [forward(tf.constant(network_input(mels[i: i + batch_size], image_size, top_db))).numpy()
           for i in range(0, len(mels), batch_size)]
    return np.concatenate(out).astype(np.float64)
