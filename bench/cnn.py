"""VGG16 speed, both sides in one run: float32 vs bfloat16 (training and inference images/s), and a transfer head's
epoch on cached base outputs vs a full from-scratch epoch. Figures go in BENCHMARKS.md.

    .venv/bin/python bench/cnn.py                       # 96x96, 256 images
    .venv/bin/python bench/cnn.py --size 128 --images 128
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


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

    vgg16.set_precision(precision)
    model = vgg16.build(10, CNNConfig(image_size=size, weights="none"))
    x = np.random.default_rng(0).normal(0, 50, (n, size, size, 3)).astype(np.float32)
    y = np.arange(n) % 10

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
    model = vgg16.build(10, cfg)
    x = np.random.default_rng(0).normal(0, 50, (n, size, size, 3)).astype(np.float32)
    y = np.arange(n) % 10
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


def main() -> None:
    from genre.models.vgg16 import cpu_flags, precision

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--size", type=int, default=96)
    p.add_argument("--images", type=int, default=256)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--repeat", type=int, default=2)
    args = p.parse_args()
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


if __name__ == "__main__":
    main()
