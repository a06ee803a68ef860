"""Training VGG16: from scratch (full network) or as transfer (a frozen pretrained base whose outputs are cached,
a head trained on them in seconds, optionally the last block fine-tuned).

Both share one epoch loop: SpecAugment masks and a random time shift on the mel arrays (no flips or rotations),
optionally mixup on the images, class weights, early stopping on the validation clips' macro ROC-AUC with the best
epoch's weights restored, and a checkpoint after every epoch, so a killed training resumes at its last finished
epoch. Batches are streamed by ``tf.data`` from the (memory-mapped) mel arrays, augmented and preprocessed in a
background thread while the previous batch trains: memory holds a few batches of images, not the data set.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from genre.atomic import atomic_path, write_json
from genre.config import CNNConfig
from genre.metrics.scores import clip_mean, macro_roc_auc
from genre.models import vgg16

BASE_FORWARD: Counter[str] = Counter()  # images sent through a frozen base, by weights identity (a cache miss)


@dataclass
class TrainedCNN:
    """The Keras model and how its training went."""

    model: object
    history: dict[str, list[float]]
    fit_seconds: float
    weights: str
    precision: str = "float32"
    mode: str = "scratch"
    best_epoch: int = -1
    resumed_at: int = 0
    images_per_second: float = 0.0
    notes: list[str] = field(default_factory=list)

    def info(self) -> dict[str, object]:
        """What the model's info and the run report record about this training."""
        return {"cnn_weights": self.weights, "cnn_mode": self.mode, "cnn_precision": self.precision,
                "cnn_best_epoch": self.best_epoch, "cnn_train_images_per_second": round(self.images_per_second, 2),
                "cnn_notes": self.notes}


@dataclass
class Data:
    """Training and validation mel arrays (n, n_mels, frames), labels, and validation clip ids."""

    mels: np.ndarray
    y: np.ndarray
    val_mels: np.ndarray
    val_y: np.ndarray
    val_clips: np.ndarray
    n_classes: int
    top_db: float

    def digest(self) -> str:
        """Hash of the arrays, read in blocks of rows (memory-mapped mels are never loaded whole)."""
        h = hashlib.sha256()
        for part in (self.mels, self.y, self.val_mels, self.val_y, self.val_clips.astype(str)):
            for start in range(0, len(part), 256):
                h.update(np.ascontiguousarray(part[start: start + 256]).tobytes())
        h.update(f"{self.n_classes}:{self.top_db}".encode())
        return h.hexdigest()


def fit(data: Data, cfg: CNNConfig, workdir: str | Path, progress: bool = True) -> TrainedCNN:
    """Train VGG16 as ``cfg.weights`` says: ``none`` from scratch, ``imagenet`` or a weights file as transfer."""
    name, why = vgg16.precision(cfg.precision)
    workdir = Path(workdir)
    with vgg16.precision_policy(name):
        if cfg.weights in ("none", ""):
            print(f"VGG16: training from scratch, WITHOUT pretrained weights (cnn.weights=none); precision {name} "
                  f"({why})")
            result = _scratch(data, cfg, workdir, name, progress)
            result.notes += ["trained from scratch: no pretrained weights",
                             f"input: {vgg16.input_preprocessing(cfg)} (inside the saved model)"]
        else:
            print(f"VGG16: transfer from {cfg.weights} (frozen base, cached outputs); precision {name} ({why})")
            result = _transfer(data, cfg, workdir, name, progress)
    if cfg.mixup and result.mode != "transfer":  # image batches only: the head trains on cached base outputs
        result.notes.append(f"mixup: images and targets blended at Beta({cfg.mixup}, {cfg.mixup}) shares")
    result.precision = name
    return result


def _run_dir(data: Data, cfg: CNNConfig, precision: str, phase: str, workdir: Path) -> Path:
    """Checkpoint folder of one training: a hash of the data, split, config, precision and phase."""
    key = hashlib.sha256(json.dumps({"data": data.digest(), "cfg": cfg.model_dump(mode="json"), "phase": phase,
                                     "precision": precision, "prep": vgg16.input_preprocessing(cfg)},
                                    sort_keys=True).encode()).hexdigest()[:16]
    return workdir / "runs" / key


def _scratch(data: Data, cfg: CNNConfig, workdir: Path, precision: str, progress: bool) -> TrainedCNN:
    plain = (vgg16.network_input(np.asarray(data.mels[i: i + 256], np.float32), cfg.image_size, data.top_db)
             for i in range(0, len(data.mels), 256))
    model = vgg16.build(data.n_classes, cfg, input_stats=vgg16.channel_stats(plain))
    per_epoch = -(-len(data.y) // cfg.batch_size)
    vgg16.compile_model(model, cfg.learning_rate, steps=cfg.epochs * per_epoch, warmup=per_epoch)
    loop = EpochLoop(model, data, cfg, _run_dir(data, cfg, precision, "scratch", workdir), progress)
    return loop.run(cfg.epochs, "scratch")


def _transfer(data: Data, cfg: CNNConfig, workdir: Path, precision: str, progress: bool) -> TrainedCNN:
    import keras

    base = vgg16.build_base(cfg)
    base.trainable = False
    model = vgg16.build(data.n_classes, cfg, base)
    cache = BaseCache(workdir / "base-cache", cfg)
    start = time.perf_counter()
    train_f, val_f = cache.pooled(base, data.mels, data.top_db, progress), cache.pooled(base, data.val_mels,
                                                                                         data.top_db, progress)
    inputs = keras.Input((train_f.shape[1],))
    head = keras.Model(inputs, model.get_layer("genre")(model.get_layer("dropout")(inputs)), name="head")
    vgg16.compile_model(head, cfg.head_learning_rate)
    targets, weights = one_hot(data.y, data.n_classes), _class_weights(data.y, data.n_classes)[data.y]
    history: dict[str, list[float]] = {}
    best, best_epoch, best_weights = -1.0, -1, None
    for epoch in range(cfg.head_epochs):
        h = head.fit(train_f, targets, batch_size=cfg.batch_size, epochs=1, sample_weight=weights, verbose=0,
                     shuffle=True)
        auc = _clip_auc(head.predict(val_f, verbose=0), data)
        _append(history, loss=h.history["loss"][0], val_roc_auc=auc)
        if auc > best:
            best, best_epoch, best_weights = auc, epoch, head.get_weights()
        if epoch - best_epoch >= cfg.patience:
            break
    if best_weights is not None:
        head.set_weights(best_weights)  # the head's layers are the full model's: it now holds them too
    result = TrainedCNN(model, history, time.perf_counter() - start, cfg.weights, mode="transfer",
                        best_epoch=best_epoch)
    if cfg.fine_tune_epochs:
        base.trainable = True
        for layer in base.layers:
            layer.trainable = layer.name.startswith("block5")
        vgg16.compile_model(model, cfg.fine_tune_learning_rate)
        tuned = EpochLoop(model, data, cfg, _run_dir(data, cfg, precision, "fine-tune", workdir), progress, best=best)
        fine = tuned.run(cfg.fine_tune_epochs, "transfer+fine-tune")
        fine.history = {**{f"head_{k}": v for k, v in history.items()}, **fine.history}
        fine.fit_seconds += result.fit_seconds
        return fine
    return result


class BaseCache:
    """Pooled outputs of a frozen base, one ``.npy`` per mel array content, keyed by the weights' identity, the
    image size and the preprocessing: a rerun on the same data sends nothing through the base."""

    def __init__(self, root: Path, cfg: CNNConfig) -> None:
        weights = vgg16.resolve_weights(cfg.weights)
        identity = weights if weights == "imagenet" else _file_sha256(Path(weights))
        self.identity = identity
        key = hashlib.sha256(f"{identity}|{cfg.image_size}|{vgg16.PREPROCESSING}".encode()).hexdigest()[:16]
        self.dir = root / key

    def path(self, digest: str) -> Path:
        return self.dir / digest[:2] / f"{digest}.npy"

    def pooled(self, base, mels: np.ndarray, top_db: float, progress: bool = True) -> np.ndarray:
        """(n, 512) float32 global-average-pooled base outputs of ``mels``, computed only where not cached."""
        digests = [hashlib.blake2b(np.ascontiguousarray(m).tobytes(), digest_size=16).hexdigest() for m in mels]
        missing = [i for i, d in enumerate(digests) if not self.path(d).is_file()]
        size = base.input_shape[1]
        for start in tqdm(range(0, len(missing), 32), desc="VGG16 base", unit="batch",
                          disable=not progress or not missing):
            rows = missing[start: start + 32]
            out = np.asarray(base(vgg16.network_input(mels[rows], size, top_db), training=False), dtype=np.float32)
            BASE_FORWARD[self.identity] += len(rows)
            for i, pooled in zip(rows, out.mean(axis=(1, 2))):
                with atomic_path(self.path(digests[i]), suffix=".npy") as tmp:
                    np.save(tmp, pooled)
        return np.stack([np.load(self.path(d)) for d in digests]) if digests else np.zeros((0, 512), np.float32)


class EpochLoop:
    """Epochs of augmented batches, validated on clip ROC-AUC, checkpointed so a killed run resumes."""

    def __init__(self, model, data: Data, cfg: CNNConfig, run_dir: Path, progress: bool, best: float = -1.0) -> None:
        self.model, self.data, self.cfg, self.dir, self.progress = model, data, cfg, run_dir, progress
        self.best = best

    def run(self, epochs: int, mode: str) -> TrainedCNN:
        state = self._resume()
        if state is None and self.best > -1:  # fine-tuning starts from a scored model: keep it unless beaten
            with atomic_path(self.dir / "best.weights.h5", suffix=".weights.h5") as tmp:
                self.model.save_weights(tmp)
        first = state["epoch"] + 1 if state else 0
        history: dict[str, list[float]] = state["history"] if state else {}
        best, best_epoch = (state["best"], state["best_epoch"]) if state else (self.best, -1)
        if first:
            print(f"VGG16: resuming after epoch {first} of {epochs} (checkpoint {self.dir})")
        start, images = time.perf_counter(), 0
        for epoch in range(first, epochs):
            if best_epoch >= 0 and epoch - best_epoch > self.cfg.patience:
                print(f"VGG16: early stop, no better validation ROC-AUC since epoch {best_epoch + 1}")
                break
            loss = self._epoch(epoch)
            images += len(self.data.y)
            auc = _clip_auc(vgg16.predict(self.model, self.data.val_mels, self.cfg.image_size, self.data.top_db),
                            self.data)
            _append(history, loss=loss, val_roc_auc=auc)
            print(f"VGG16 epoch {epoch + 1}/{epochs}: loss {loss:.4f}, validation clip ROC-AUC {auc:.4f}")
            if auc >= best:  # a tie goes to the later, longer trained epoch (a few validation clips saturate)
                best, best_epoch = auc, epoch
                with atomic_path(self.dir / "best.weights.h5", suffix=".weights.h5") as tmp:
                    self.model.save_weights(tmp)
            self._checkpoint(epoch, history, best, best_epoch)
        seconds = time.perf_counter() - start
        if (self.dir / "best.weights.h5").is_file():
            self.model.load_weights(self.dir / "best.weights.h5")
        return TrainedCNN(self.model, history, seconds, self.cfg.weights, mode=mode, best_epoch=best_epoch,
                          resumed_at=first, images_per_second=images / seconds if images else 0.0)

    def _epoch(self, epoch: int) -> float:
        losses = []
        steps = -(-len(self.data.y) // self.cfg.batch_size)
        batches = tqdm(self.batches(epoch), total=steps, desc=f"epoch {epoch + 1}", unit="batch", leave=False,
                       disable=not self.progress)
        self.model.reset_metrics()  # train_on_batch reports a running mean: make it this epoch's
        for x, y, w in batches:
            out = self.model.train_on_batch(x, y, sample_weight=w)
            losses.append(float(np.ravel(out)[0]))
        return float(np.mean(losses))

    def batches(self, epoch: int):
        """One epoch of augmented (images, target rows, class weights) batches as a ``tf.data`` pipeline over the
        memory-mapped mels, the next batch prepared in a background thread while this one trains. Seeded by
        (seed, epoch): a resumed epoch sees the batches it would have seen."""
        import tensorflow as tf

        data, cfg = self.data, self.cfg
        class_weights = _class_weights(data.y, data.n_classes)

        def generate():
            rng = np.random.default_rng([cfg.seed, epoch])
            order = rng.permutation(len(data.y))
            for b in range(0, len(order), cfg.batch_size):
                rows = np.sort(order[b: b + cfg.batch_size])
                mels = augment(np.asarray(data.mels[rows], dtype=np.float32), rng)
                batch = (vgg16.network_input(mels, cfg.image_size, data.top_db),
                         one_hot(data.y[rows], data.n_classes), class_weights[data.y[rows]])
                yield mixup(*batch, cfg.mixup, rng) if cfg.mixup else batch

        size = cfg.image_size
        signature = (tf.TensorSpec((None, size, size, 3), tf.float32),
                     tf.TensorSpec((None, data.n_classes), tf.float32), tf.TensorSpec((None,), tf.float32))
        return tf.data.Dataset.from_generator(generate, output_signature=signature).prefetch(2).as_numpy_iterator()

    def _checkpoint(self, epoch: int, history: dict[str, list[float]], best: float, best_epoch: int) -> None:
        model_file = self.dir / f"epoch-{epoch + 1:03d}.keras"
        with atomic_path(model_file, suffix=".keras") as tmp:
            self.model.save(tmp)
        write_json(self.dir / "state.json", {"epoch": epoch, "model": model_file.name, "history": history,
                                             "best": best, "best_epoch": best_epoch})
        for old in self.dir.glob("epoch-*.keras"):  # the state now points at the new one
            if old != model_file:
                old.unlink(missing_ok=True)

    def _resume(self) -> dict | None:
        state_file = self.dir / "state.json"
        if not state_file.is_file():
            return None
        import keras

        state = json.loads(state_file.read_text())
        self.model = keras.saving.load_model(self.dir / state["model"])  # weights and optimizer state
        return state


def augment(mels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """SpecAugment on mel dB arrays: one frequency band and one time band set to the segment's mean level (as
    SpecAugment masks normalised spectrograms with zero: silence would be an outlier far below anything the network
    sees otherwise), and a random circular time shift of up to a quarter of the segment. No flips or rotations:
    they change what music sounds like."""
    out = mels.copy()
    n_mels, frames = out.shape[1:]
    for m in out:
        f = rng.integers(1, max(2, n_mels // 8))
        t = rng.integers(1, max(2, frames // 8))
        f0, t0 = rng.integers(0, n_mels - f), rng.integers(0, frames - t)
        level = m.mean()
        m[f0: f0 + f] = level
        m[:, t0: t0 + t] = level
        m[:] = np.roll(m, rng.integers(-frames // 4, frames // 4 + 1), axis=1)
    return out


def mixup(x: np.ndarray, targets: np.ndarray, weights: np.ndarray, alpha: float,
          rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """mixup (Zhang et al., 2018): each image blended with another of its batch at a Beta(alpha, alpha) share, its
    target row and class weight blended at the same share."""
    share = rng.beta(alpha, alpha, len(x)).astype(np.float32)
    other = rng.permutation(len(x))
    s = share.reshape(-1, *([1] * (x.ndim - 1)))
    return (s * x + (1 - s) * x[other], share[:, None] * targets + (1 - share[:, None]) * targets[other],
            share * weights + (1 - share) * weights[other])


def one_hot(y: np.ndarray, n_classes: int) -> np.ndarray:
    """(n, n_classes) float32 target rows of integer labels."""
    return np.eye(n_classes, dtype=np.float32)[y]


def _class_weights(y: np.ndarray, n_classes: int) -> np.ndarray:
    """Balanced weight per class (n / (classes * count)), 1 for a class without examples."""
    counts = np.bincount(y, minlength=n_classes).astype(np.float64)
    return np.where(counts > 0, len(y) / (n_classes * np.maximum(counts, 1)), 1.0).astype(np.float32)


def _clip_auc(segment_probs: np.ndarray, data: Data) -> float:
    ids, probs = clip_mean(segment_probs, data.val_clips)
    first = {c: y for c, y in zip(data.val_clips, data.val_y)}
    truth = np.array([first[c] for c in ids])
    try:
        return macro_roc_auc(truth, probs)
    except ValueError:  # one class in validation: no ranking to measure
        return float("nan")


def _append(history: dict[str, list[float]], **values: float) -> None:
    for k, v in values.items():
        history.setdefault(k, []).append(float(v))


def _file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()
