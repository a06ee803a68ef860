"""Bench: TensorFlow against OpenVINO for the two served networks' forward passes, both sides in one run.

The serving issue asks for an exported runtime behind a config key only if it makes the forward pass measurably
faster. This measures it: CPU seconds per item (``time.process_time``, all threads) of the musicnn port
(MSD_musicnn, max_pool, 3 s patches) and of VGG16 (an untrained network of the default size: the cost is the same),
run by TensorFlow (a compiled ``tf.function``, as genre serves them) and by OpenVINO (converted from that function,
compiled for the CPU with 2 threads), with the largest difference of their outputs. OpenVINO is not a dependency of
genre: run it in a throw-away environment beside the lock.

    PYTHONPATH=. .venv-uv/bin/uv run --no-project --python .venv/bin/python --with openvino==2026.4.1 \\
        python bench/runtime.py
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from genre.config import CNNConfig
from genre.features import pretrained as musicnn
from genre.metrics.plots import markdown_table
from genre.models import vgg16


def cpu_per_item(fn, x: np.ndarray, repeat: int) -> float:
    fn(x)
    start = time.process_time()
    for _ in range(repeat):
        fn(x)
    return (time.process_time() - start) / repeat / len(x)


def compare(name: str, model, x: np.ndarray, repeat: int, threads: int) -> dict[str, object]:
    import openvino as ov
    import tensorflow as tf

    forward = tf.function(lambda t: model(t, training=False),
                          input_signature=[tf.TensorSpec([None, *x.shape[1:]], tf.float32)])
    compiled = ov.Core().compile_model(ov.convert_model(forward, input=[([-1, *x.shape[1:]], ov.Type.f32)]), "CPU",
                                       {"INFERENCE_NUM_THREADS": threads})
    tf_cpu = cpu_per_item(lambda t: forward(t).numpy(), x, repeat)
    ov_cpu = cpu_per_item(lambda t: compiled(t)[0], x, repeat)
    ref = np.asarray(forward(x))
    return {"network": name, "items": len(x), "tensorflow_cpu_ms": round(1000 * tf_cpu, 2),
            "openvino_cpu_ms": round(1000 * ov_cpu, 2), "openvino_speed-up": round(tf_cpu / ov_cpu, 2),
            "max_abs_diff": float(np.abs(np.asarray(compiled(x)[0]) - ref).max()),
            "max_abs_output": float(np.abs(ref).max())}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--repeat", type=int, default=5, help="timed passes per network and runtime (default 5)")
    p.add_argument("--threads", type=int, default=2, help="OpenVINO inference threads (default 2)")
    args = p.parse_args()
    rng = np.random.default_rng(0)
    patches = (2 + 2 * rng.standard_normal((10, musicnn.PATCH_FRAMES, musicnn.N_MELS))).astype(np.float32)
    rows = [compare("musicnn MSD_musicnn max_pool, 3 s patches", musicnn.network("MSD_musicnn", "max_pool"),
                    patches, args.repeat, args.threads)]
    for size in (CNNConfig().image_size, 64):
        cfg = CNNConfig(image_size=size)
        images = rng.uniform(0, 255, (20, size, size, 3)).astype(np.float32)
        rows.append(compare(f"VGG16 {size}x{size}, 10 genres", vgg16.build(10, cfg), images, args.repeat,
                            args.threads))
    print(markdown_table(rows))


if __name__ == "__main__":
    main()
