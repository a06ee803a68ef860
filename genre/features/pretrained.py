"""musicnn's pretrained music-tagging networks (Pons and Serra, MTG-UPF, ISC licence), ported to Keras 3.

The ``musicnn`` wheel ships four TF1 checkpoints (MSD_musicnn, MTT_musicnn, MSD_vgg, MTT_vgg). Only those files
are used: the networks are rebuilt here as Keras 3 functional models, layer for layer as in musicnn's
``models.py``, and every variable is read from the checkpoint with TensorFlow's checkpoint reader. musicnn's own
TF1 code never runs (``scripts/musicnn_reference.py`` runs it once, elsewhere, for the parity fixture).

:func:`log_mel` is the one preprocessing (16 kHz, 512-point FFT, hop 256, 96 mel bands, log10(1 + 10000 x) in
float32) and :func:`segment_patches` places one 3 s patch (187 frames) at the start of each feature segment, so
embedding rows line up with the feature table's segments; a clip shorter than a segment is repeated to fill one,
by the same :func:`~genre.features.extractor.fit_length` the features use, in training and serving alike.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from functools import lru_cache
from importlib.util import find_spec
from pathlib import Path
from typing import Any

import numpy as np

from genre.config import FeatureConfig, PretrainedConfig
from genre.data.audio import segment_bounds
from genre.features.extractor import fit_length
from genre.features.numba_cache import import_librosa

# Bump when the embeddings' values change (preprocessing, patch placement, pooling): caches and predictors key on it.
EMBEDDINGS_VERSION = 1
SAMPLE_RATE, N_FFT, HOP, N_MELS, PATCH_FRAMES = 16000, 512, 256, 96, 187
MEMBER = "musicnn"  # the member name of the pretrained network's head in ensembles and predictors
CHECKPOINTS = ("MSD_musicnn", "MTT_musicnn", "MSD_vgg", "MTT_vgg")
MUSICNN_LAYERS = ("taggram", "timbral", "temporal", "cnn1", "cnn2", "cnn3", "mean_pool", "max_pool", "penultimate")
VGG_LAYERS = ("taggram", "pool1", "pool2", "pool3", "pool4", "pool5")
_BN_EPSILON = 1e-3  # tf.compat.v1.layers.batch_normalization's default
# The FeatureConfig fields the embeddings depend on (decoding rate, segment placement, short-clip filling).
EMBEDDING_FIELDS = ("sample_rate", "segment_seconds", "segment_overlap", "min_seconds")


class PretrainedError(ValueError):
    """A checkpoint or layer that cannot be used; the message says why and what to choose instead."""


def layers_of(checkpoint: str) -> tuple[str, ...]:
    """The layers an embedding can come from: each pooled to one vector per 3 s patch (see :func:`build`)."""
    return VGG_LAYERS if checkpoint.endswith("_vgg") else MUSICNN_LAYERS


def checkpoint_prefix(checkpoint: str, root: str | None = None) -> Path:
    """The checkpoint's file prefix (its files are ``.index``, ``.data-*``): ``<root>/<checkpoint>`` when ``root``
    holds a copy (a saved model carries one, see :func:`copy_checkpoint`), else inside the installed wheel."""
    if checkpoint not in CHECKPOINTS:
        raise PretrainedError(f"unknown checkpoint {checkpoint!r}; choose from {', '.join(CHECKPOINTS)} or none")
    if root is not None and (Path(root) / checkpoint / ".index").is_file():
        return Path(root) / checkpoint
    spec = find_spec("musicnn")  # locates the package without running its TF1 code
    if spec is None or not spec.submodule_search_locations:
        raise PretrainedError("the musicnn package (its checkpoints) is not installed: `uv sync` installs it")
    folder = Path(list(spec.submodule_search_locations)[0]) / checkpoint
    if not (folder / ".index").is_file():
        raise PretrainedError(f"{folder} holds no checkpoint (.index missing): reinstall musicnn==0.1.0")
    return folder


def copy_checkpoint(checkpoint: str, root: Path) -> Path:
    """Copy the variables of ``checkpoint`` (``.index`` and ``.data-*``, not the TF1 graph) to ``root/<checkpoint>``,
    so that a saved model serves without the musicnn wheel (a Bento cannot install it: its metadata pins numpy<1.17)."""
    source, target = checkpoint_prefix(checkpoint), root / checkpoint
    target.mkdir(parents=True, exist_ok=True)
    for file in [source / ".index", *source.glob(".data-*")]:
        shutil.copyfile(file, target / file.name)
    return target


def unavailable(cfg: PretrainedConfig, root: str | None = None) -> str:
    """Why the configured pretrained member cannot run ("" when it can): off, unknown, or not installed."""
    if cfg.checkpoint == "none":
        return "pretrained.checkpoint = none"
    try:
        checkpoint_prefix(cfg.checkpoint, root)
    except PretrainedError as exc:
        return str(exc)
    if cfg.layer not in layers_of(cfg.checkpoint):
        return f"{cfg.checkpoint} has no layer {cfg.layer!r}; choose from {', '.join(layers_of(cfg.checkpoint))}"
    return ""


def embeddings_key(features: FeatureConfig, cfg: PretrainedConfig) -> str:
    """Cache key of the embeddings: ``<checkpoint>-<layer>-<hash of the version and the fields they use>``."""
    values = features.model_dump(mode="json")
    blob = json.dumps({"version": EMBEDDINGS_VERSION, "patch_every": cfg.patch_every,
                       **{f: values[f] for f in EMBEDDING_FIELDS}}, sort_keys=True)
    return f"{cfg.checkpoint}-{cfg.layer}-{hashlib.sha256(blob.encode()).hexdigest()[:12]}"


def log_mel(y: np.ndarray) -> np.ndarray:
    """(frames, 96) float32 network input of a 16 kHz signal: librosa's mel power spectrogram (as musicnn computes
    it), compressed as log10(1 + 10000 x) in float32."""
    librosa = import_librosa()
    mel = librosa.feature.melspectrogram(y=np.asarray(y, dtype=np.float32), sr=SAMPLE_RATE, hop_length=HOP,
                                         n_fft=N_FFT, n_mels=N_MELS).T.astype(np.float32)
    return np.log10(np.float32(10000) * mel + np.float32(1))


def to_16k(y: np.ndarray, sample_rate: int) -> np.ndarray:
    """``y`` resampled to 16 kHz (soxr, as the decoder and librosa use)."""
    if sample_rate == SAMPLE_RATE:
        return np.asarray(y, dtype=np.float32)
    import soxr

    return soxr.resample(np.asarray(y, dtype=np.float32), sample_rate, SAMPLE_RATE).astype(np.float32)


def patches_at(mel: np.ndarray, starts: list[int]) -> np.ndarray:
    """(len(starts), 187, 96) patches of ``mel`` starting at those frames, the last ones moved back to fit."""
    last = mel.shape[0] - PATCH_FRAMES
    if last < 0:
        raise ValueError(f"{mel.shape[0]} mel frames are fewer than one patch ({PATCH_FRAMES})")
    return np.stack([mel[min(s, last): min(s, last) + PATCH_FRAMES] for s in starts])


def segment_patches(y: np.ndarray, cfg: FeatureConfig) -> np.ndarray:
    """One network patch per feature segment of ``y`` (a signal at ``cfg.sample_rate``, as decoded for the
    features): the clip made to fill a segment if short, at 16 kHz, log-mel, a patch at each segment's start."""
    y = fit_length(y, cfg)
    bounds = segment_bounds(len(y), cfg.sample_rate, cfg.segment_seconds, cfg.segment_overlap)
    mel = log_mel(to_16k(y, cfg.sample_rate))
    return patches_at(mel, [int(round(a / cfg.sample_rate * SAMPLE_RATE / HOP)) for a, _ in bounds])


def build(checkpoint: str, root: str | None = None) -> Any:
    """The Keras 3 network of ``checkpoint`` with its checkpoint's variables; input (batch, 187, 96), outputs a
    dict of every layer in :func:`layers_of`, each pooled to one vector per patch: the taggram (sigmoid of the
    logits); frame-level layers (timbral, temporal, cnn1-3; vgg pool1-4) averaged over time (and mel bands);
    mean_pool, max_pool and penultimate as they are; vgg pool5 flattened."""
    import keras
    from keras import layers, ops

    def bn(name: str) -> Any:
        return layers.BatchNormalization(epsilon=_BN_EPSILON, name=name)

    x = keras.Input((PATCH_FRAMES, N_MELS))
    h = bn("batch_normalization")(layers.Reshape((PATCH_FRAMES, N_MELS, 1))(x))
    out: dict[str, Any] = {}
    if checkpoint.endswith("_vgg"):
        pools = [(4, 1), (2, 2), (2, 2), (2, 2), (4, 4)]
        strides = [(2, 2), (2, 2), (2, 2), (2, 2), (4, 4)]
        for i, (pool, stride) in enumerate(zip(pools, strides), start=1):
            h = layers.Conv2D(128, 3, padding="same", activation="relu", name=f"{i}CNN")(h)
            h = layers.MaxPooling2D(pool, stride)(bn(f"batch_normalization_{i}")(h))
            out[f"pool{i}"] = ops.mean(h, axis=(1, 2)) if i < 5 else layers.Flatten()(h)
        out["taggram"] = ops.sigmoid(layers.Dense(50, name="dense")(layers.Flatten()(h)))
        return _load(keras.Model(x, out), checkpoint, root)

    def block(inputs: Any, filters: int, kernel: tuple[int, int], padding: str, i: int) -> Any:
        conv = layers.Conv2D(filters, kernel, padding=padding, activation="relu", name=f"conv2d_{i}" if i else "conv2d")(
            inputs)
        return ops.max(bn(f"batch_normalization_{i + 1}")(conv), axis=2)  # max over the mel axis

    def temporal_block(filters: int, length: int, i: int) -> Any:
        # the checkpoint's (length, 1) 2-D convolution, one filter bank over time shared by every mel band, run as a
        # 1-D convolution of the bands stacked into the batch: the same numbers, 1.5-1.9x less CPU for these
        # convolutions (oneDNN is slow on a one-channel 2-D convolution with a tall kernel; bench/pretrained.py)
        bands = ops.reshape(ops.transpose(h, (0, 2, 1, 3)), (-1, PATCH_FRAMES, 1))
        conv = layers.Conv1D(filters, length, padding="same", activation="relu", name=f"conv2d_{i}")(bands)
        conv = ops.reshape(conv, (-1, N_MELS, PATCH_FRAMES, filters))  # (batch, mel, time, filters)
        return ops.max(bn(f"batch_normalization_{i + 1}")(conv), axis=1)  # max over the mel axis

    pad7 = layers.ZeroPadding2D(((3, 3), (0, 0)))(h)
    timbral = [block(pad7, 204, (7, int(frac * N_MELS)), "valid", i) for i, frac in enumerate((0.4, 0.7))]
    temporal = [temporal_block(51, k, i) for i, k in enumerate((128, 64, 32), start=2)]
    front = ops.concatenate(timbral + temporal, axis=2)  # (batch, 187, 561)
    mids, prev = [], ops.expand_dims(front, 3)
    for i in range(3):
        conv = layers.Conv2D(64, (7, prev.shape[2]), activation="relu", name=f"conv2d_{5 + i}")(
            layers.ZeroPadding2D(((3, 3), (0, 0)))(prev))
        conv = ops.transpose(bn(f"batch_normalization_{6 + i}")(conv), (0, 1, 3, 2))  # (batch, 187, 64, 1)
        prev = conv if i == 0 else conv + prev
        mids.append(prev[..., 0])
    dense = ops.concatenate([front] + mids, axis=2)  # (batch, 187, 753)
    max_pool, mean_pool = ops.max(dense, axis=1), ops.mean(dense, axis=1)
    flat = ops.reshape(ops.stack([max_pool, mean_pool], axis=2), (-1, 2 * dense.shape[2]))  # as TF1 flattened it
    penultimate = bn("batch_normalization_10")(layers.Dense(200, activation="relu", name="dense")(
        bn("batch_normalization_9")(flat)))
    out = {"taggram": ops.sigmoid(layers.Dense(50, name="dense_1")(penultimate)),
           "timbral": ops.mean(ops.concatenate(timbral, axis=2), axis=1),
           "temporal": ops.mean(ops.concatenate(temporal, axis=2), axis=1),
           **{f"cnn{i + 1}": ops.mean(m, axis=1) for i, m in enumerate(mids)},
           "mean_pool": mean_pool, "max_pool": max_pool, "penultimate": penultimate}
    return _load(keras.Model(x, out), checkpoint, root)


_VARIABLES = {"Conv2D": ("kernel", "bias"), "Conv1D": ("kernel", "bias"), "Dense": ("kernel", "bias"),
              "BatchNormalization": ("gamma", "beta", "moving_mean", "moving_variance")}


def _load(model: Any, checkpoint: str, root: str | None) -> Any:
    """Set every weight of ``model`` from the TF1 checkpoint's variable ``<layer name>/<variable>``.

    The reader opens the checkpoint's prefix directly: the wheel's ``checkpoint`` index file points at the
    author's machine, so ``tf.train.load_checkpoint`` on the folder finds nothing."""
    import keras
    import tensorflow as tf

    reader = tf.compat.v1.train.NewCheckpointReader(str(checkpoint_prefix(checkpoint, root)) + "/")
    shapes = reader.get_variable_to_shape_map()
    for layer in model.layers:
        names = _VARIABLES.get(type(layer).__name__)
        if names is None:
            continue
        values = [reader.get_tensor(f"{layer.name}/{v}") for v in names]
        if isinstance(layer, keras.layers.Conv1D):  # a (length, 1) 2-D kernel run as 1-D: drop its width axis
            values[0] = values[0][:, 0]
        for v, value, weight in zip(names, values, layer.get_weights()):
            if value.shape != weight.shape:
                raise PretrainedError(f"{checkpoint}: {layer.name}/{v} is {shapes[f'{layer.name}/{v}']} in the "
                                      f"checkpoint but {weight.shape} in the port")
        layer.set_weights(values)
    return model


@lru_cache(maxsize=4)
def network(checkpoint: str, layer: str, root: str | None = None) -> Any:
    """The Keras model of ``checkpoint`` (read from ``root`` if it holds a copy) with the one output ``layer``
    (built once per process)."""
    if layer not in layers_of(checkpoint):
        raise PretrainedError(f"{checkpoint} has no layer {layer!r}; choose from {', '.join(layers_of(checkpoint))}")
    import keras

    full = build(checkpoint, root)
    return keras.Model(full.input, full.output[layer])


@lru_cache(maxsize=4)
def _forward(checkpoint: str, layer: str, root: str | None) -> Any:
    """The network's forward pass as one compiled TensorFlow graph for any number of patches (traced once per
    process: a clip of another length is not traced again)."""
    import tensorflow as tf

    model = network(checkpoint, layer, root)
    spec = tf.TensorSpec((None, *model.input_shape[1:]), tf.float32)
    return tf.function(lambda t: model(t, training=False), input_signature=[spec])


def embed(patches: np.ndarray, checkpoint: str, layer: str, batch: int = 32, root: str | None = None) -> np.ndarray:
    """(n_patches, dim) float32 embeddings of (n_patches, 187, 96) log-mel patches."""
    import tensorflow as tf

    forward = _forward(checkpoint, layer, root)
    return np.concatenate([forward(tf.constant(patches[i:i + batch], tf.float32)).numpy().astype(np.float32)
                           for i in range(0, len(patches), batch)])


def segment_embeddings(y: np.ndarray, features: FeatureConfig, cfg: PretrainedConfig,
                       root: str | None = None) -> np.ndarray:
    """(n_segments, dim) embeddings of a signal at ``features.sample_rate``: one row per feature segment, the
    network run on every ``cfg.patch_every``-th segment's patch and each row between given the one before it."""
    patches = segment_patches(y, features)
    rows = np.arange(len(patches)) // cfg.patch_every
    return embed(patches[::cfg.patch_every], cfg.checkpoint, cfg.layer, root=root)[rows]
