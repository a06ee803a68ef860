"""VGG16, both sides in one run: float32 vs bfloat16 (training and inference images/s), a transfer head's epoch on
cached base outputs vs a full from-scratch epoch, and VGG16 quality on gtzan-mini (or the synthetic demo) per preset
(test clip ROC-AUC and accuracy, trained on the frozen split's train clips, early-stopped on its validation clips, per
split seed). Figures go in BENCHMARKS.md.

    .venv/bin/python bench/cnn.py --part speed                     # 96x96, 256 images
    .venv/bin/python bench/cnn.py --part speed --size 128 --images 128
    .venv/bin/python bench/cnn.py --part quality --seeds 42 7 --presets default configs/vgg16-gtzan.toml
    .venv/bin/python bench/cnn.py --part quality --data demo --seeds 42 7 2024 --presets default
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
GTZAN_MINI = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "gtzan-mini"


def images_per_second(step, n: int, repeat: int) -> float:
    step()  # compile / warm up
    start = time.perf_counter()
    for _ in range(repeat):
        step()
    return n * repeat / (time.perf_counter() - start)


def precision_speed(size: int, n: int, batch: int, repeat: int, precision: str) -> tuple[float, float]:
    import keras
    import tensorflow as tf

    from genre.config import CNNConfig
    from genre.models import vgg16

    x = np.random.default_rng(0).normal(0, 50, (n, size, size, 3)).astype(np.float32)
    with vgg16.precision_policy(precision):
        model = vgg16.build(10, CNNConfig(image_size=size, weights="none"), input_stats=vgg16.channel_stats([x]))
    y = np.eye(10, dtype=np.float32)[np.arange(n) % 10]

    def train() -> None:
        for i in range(0, n, batch):
            model.train_on_batch(x[i: i + batch], y[i: i + batch])

    forward = tf.function(lambda t: model(t, training=False), reduce_retracing=True)

    def infer() -> None:
        for i in range(0, n, batch):
            forward(tf.constant(x[i: i + batch])).numpy()

    result = images_per_second(train, n, repeat), images_per_second(infer, n, repeat)
    keras.backend.clear_session()
    return result


def head_vs_full(size: int, n: int, batch: int) -> tuple[float, float]:
    """Seconds of one transfer-head epoch on cached pooled outputs and of one full from-scratch epoch."""
    import keras

    from genre.config import CNNConfig
    from genre.models import vgg16

    cfg = CNNConfig(image_size=size, weights="none")
    x = np.random.default_rng(0).normal(0, 50, (n, size, size, 3)).astype(np.float32)
    model = vgg16.build(10, cfg, input_stats=vgg16.channel_stats([x]))
    y = np.eye(10, dtype=np.float32)[np.arange(n) % 10]
    model.train_on_batch(x[:batch], y[:batch])
    start = time.perf_counter()
    for i in range(0, n, batch):
        model.train_on_batch(x[i: i + batch], y[i: i + batch])
    full = time.perf_counter() - start
    inputs = keras.Input((512,))
    head = keras.Model(inputs, model.get_layer("genre")(model.get_layer("dropout")(inputs)))
    vgg16.compile_model(head, 1e-3)
    pooled = np.random.default_rng(1).normal(size=(n, 512)).astype(np.float32)
    head.fit(pooled, y, batch_size=batch, epochs=1, verbose=0)
    start = time.perf_counter()
    head.fit(pooled, y, batch_size=batch, epochs=1, verbose=0)
    return time.perf_counter() - start, full


def feature_set(data: str, home: Path):
    """The feature set of a ``<genre>/<clip>`` folder, or of the synthetic demo set that ``genre run`` makes without
    ``--data`` (features and mel arrays cached under ``home``, memory-mapped)."""
    from genre.config import load_config
    from genre.data.demo import make_demo_dataset
    from genre.data.store import sha256_file
    from genre.features.dataset import extract_dataset

    cfg = load_config(home=home)
    root = make_demo_dataset(home / "demo-synthetic") if data == "demo" else Path(data)
    clips = pd.DataFrame([{"clip_id": f.stem, "label": g.name, "sha256": sha256_file(f), "path": str(f)}
                          for g in sorted(root.iterdir()) if g.is_dir() for f in sorted(g.iterdir())])
    fs = extract_dataset(clips, list(clips["path"]), cfg.feature_cache, cfg.features, workers=cfg.workers,
                         out_root=home / "feature-sets")
    return fs, clips, cfg.features.top_db


def quality(fs, clips: pd.DataFrame, top_db: float, preset: str, seed: int) -> tuple[float, float, float, int]:
    """(test clip ROC-AUC, accuracy, training seconds, best epoch) of VGG16 trained under ``preset`` on the split
    of ``seed`` (the pipeline's own split rule)."""
    from genre.config import SplitConfig, load_config
    from genre.metrics.scores import clip_truth, score
    from genre.models import vgg16
    from genre.models.split import assign_splits
    from genre.models.vgg16_training import Data, fit

    cfg = load_config(None if preset == "default" else preset).cnn
    split = fs.table["clip_id"].map(assign_splits(clips, SplitConfig(seed=seed))).to_numpy()
    labels = sorted(clips["label"].unique())
    y = fs.table["label"].map({v: i for i, v in enumerate(labels)}).to_numpy()
    ids = fs.table["clip_id"].to_numpy()
    rows = {name: np.flatnonzero(split == name) for name in ("train", "validation", "test")}
    data = Data(mels=fs.mels[rows["train"]], y=y[rows["train"]], val_mels=fs.mels[rows["validation"]],
                val_y=y[rows["validation"]], val_clips=ids[rows["validation"]], n_classes=len(labels), top_db=top_db)
    with tempfile.TemporaryDirectory() as work:
        start = time.perf_counter()
        trained = fit(data, cfg, work, progress=False)
        seconds = time.perf_counter() - start
    probs = vgg16.predict(trained.model, fs.mels[rows["test"]], cfg.image_size, top_db)
    s = score(*clip_truth(probs, y[rows["test"]], ids[rows["test"]]))
    return s.roc_auc, s.accuracy, seconds, trained.best_epoch + 1


def speed(args: argparse.Namespace) -> None:
    from genre.models.vgg16 import cpu_flags, precision

    bf16 = sorted({"amx_bf16", "avx512_bf16"} & cpu_flags())
    print(f"processor bf16 instructions: {', '.join(bf16) or 'none'}; auto precision: {precision()[0]}")
    print(f"VGG16 {args.size}x{args.size}, {args.images} images, batch {args.batch}")
    rows = {name: precision_speed(args.size, args.images, args.batch, args.repeat, name)
            for name in ("float32", "bfloat16")}
    print(f"{'precision':<10}{'train img/s':>13}{'infer img/s':>13}")
    for name, (train, infer) in rows.items():
        print(f"{name:<10}{train:>13.1f}{infer:>13.1f}")
    f32, b16 = rows["float32"], rows["bfloat16"]
    print(f"bf16 / float32: training {b16[0] / f32[0]:.2f}x, inference {b16[1] / f32[1]:.2f}x")
    head, full = head_vs_full(args.size, args.images, args.batch)
    print(f"one epoch of {args.images} images: transfer head {head:.3f} s, full network {full:.1f} s "
          f"({full / head:.0f}x)")


def quality_table(args: argparse.Namespace) -> None:
    fs, clips, top_db = feature_set(args.data, Path(args.home))
    print(f"VGG16 on {args.data} ({len(clips)} clips, {len(fs.table)} segments), test clips of each split seed")
    header = f"{'preset':<28}{'seed':>6}{'ROC-AUC':>9}{'accuracy':>10}{'train s':>9}{'best epoch':>12}"
    results = {}
    for p in args.presets:
        for seed in args.seeds:
            results[p, seed] = quality(fs, clips, top_db, p, seed)
            print(f"{header}\n{_row(p, seed, results[p, seed])}", flush=True)  # each as it comes: runs are long
    print(header)
    for (p, seed), result in results.items():
        print(_row(p, seed, result))
    for p in args.presets:
        aucs = [results[p, seed][0] for seed in args.seeds]
        print(f"{p:<28}{'mean':>6}{np.mean(aucs):>9.3f}")


def _row(preset: str, seed: int, result: tuple[float, float, float, int]) -> str:
    auc, acc, seconds, best = result
    return f"{preset:<28}{seed:>6}{auc:>9.3f}{acc:>10.2f}{seconds:>9.0f}{best:>12}"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--part", choices=["speed", "quality", "both"], default="both")
    p.add_argument("--size", type=int, default=96)
    p.add_argument("--images", type=int, default=256)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--repeat", type=int, default=2)
    p.add_argument("--presets", nargs="+", default=["default", "configs/vgg16-gtzan.toml"],
                   help="'default' (CNNConfig's defaults) or TOML files with a [cnn] section")
    p.add_argument("--seeds", nargs="+", type=int, default=[42, 7, 2024], help="split seeds")
    p.add_argument("--data", default=str(GTZAN_MINI),
                   help="quality on this <genre>/<clip> folder, or 'demo': the synthetic demo set (default gtzan-mini)")
    p.add_argument("--home", default=".genre", help="where the features are cached (default .genre)")
    args = p.parse_args()
    if args.part in ("speed", "both"):
        speed(args)
    if args.part in ("quality", "both"):
        quality_table(args)


if __name__ == "__main__":
    main()
