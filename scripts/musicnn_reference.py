"""Reference outputs of the ORIGINAL musicnn code for the parity test of genre's Keras port.

Run once, from the repo root (needs the package index and ../shared/data/gtzan-mini):

    .venv/bin/python scripts/musicnn_reference.py            # writes tests/data/musicnn_reference.npz

It builds a throwaway virtual environment (uv, under a temporary folder) with tensorflow-cpu 2.21.0, librosa and
soxr as genre locks them, tf-keras and musicnn 0.1.0 without their dependencies (their pins would pull old or
duplicate TensorFlow), and runs musicnn's own ``extractor()`` there with TF_USE_LEGACY_KERAS=1, after two fixes
to its installed copy (asserted to apply exactly once each):

1. the log compression runs in float32: ``astype(np.float16)`` became ``astype(np.float32)``. On numpy 2,
   ``10000 * float16`` stays float16 and overflows to inf on most clips, with no error.
2. ``extractor()`` reused the first patch's cnn1-3 and penultimate arrays for every later patch (the loop unpacked
   into other names); the loop now unpacks into the names it concatenates.

The fixture holds numbers only: per checkpoint and clip, the taggram and each layer pooled per 3 s patch the way
``genre.features.pretrained.build`` pools them (frame-level layers: mean over time; vgg pool1-4: mean over time
and mel bands; pool5: flattened), for the first ``PATCHES`` patches. No audio is stored.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CLIPS = ["blues/blues.00000.wav", "classical/classical.00001.wav", "metal/metal.00002.wav"]
CHECKPOINTS = ["MSD_musicnn", "MTT_musicnn", "MSD_vgg", "MTT_vgg"]
PATCHES = 4
OUT = ROOT / "tests" / "data" / "musicnn_reference.npz"
DATA = ROOT.parent / "shared" / "data" / "gtzan-mini"

FIXES = [
    ("audio_rep = audio_rep.astype(np.float16)", "audio_rep = audio_rep.astype(np.float32)"),
    ("predicted_tags, timbral_, temporal_, midend1_, midend2_, midend3_, mean_pool_, max_pool_, backend_ = tf_out",
     "predicted_tags, timbral_, temporal_, cnn1_, cnn2_, cnn3_, mean_pool_, max_pool_, penultimate_ = tf_out"),
]

# Runs inside the throwaway environment: argv = output .npz, then clip paths.
RUNNER = r'''
import sys
import numpy as np
from musicnn.extractor import extractor

CHECKPOINTS, PATCHES = %r, %d
out, clips = sys.argv[1], sys.argv[2:]
frames = 187
arrays = {}
for ckpt in CHECKPOINTS:
    for i, clip in enumerate(clips):
        taggram, _, feats = extractor(clip, model=ckpt, input_length=3, input_overlap=False, extract_features=True)
        n = taggram.shape[0]
        arrays[f"{ckpt}/{i}/taggram"] = taggram
        if "vgg" in ckpt:
            for name in ("pool1", "pool2", "pool3", "pool4"):
                f = feats[name]  # (n * time, mel, channels) after squeeze and concatenation
                f = f.reshape(n, -1, *f.shape[1:])
                arrays[f"{ckpt}/{i}/{name}"] = f.mean(axis=(1, 2))
            arrays[f"{ckpt}/{i}/pool5"] = feats["pool5"].reshape(n, -1)
        else:
            for name in ("timbral", "temporal", "cnn1", "cnn2", "cnn3"):
                arrays[f"{ckpt}/{i}/{name}"] = feats[name].reshape(n, frames, -1).mean(axis=1)
            for name in ("mean_pool", "max_pool", "penultimate"):
                arrays[f"{ckpt}/{i}/{name}"] = feats[name]
arrays = {k: np.asarray(v, dtype=np.float32)[:PATCHES] for k, v in arrays.items()}
np.savez_compressed(out, **arrays)
'''


def _run(cmd: list[str], **kw: object) -> None:
    print("+", " ".join(cmd), flush=True)
    subprocess.run(cmd, check=True, **kw)


def _installed(name: str) -> str:
    from importlib.metadata import version

    return version(name)


def main() -> None:
    uv = str(ROOT / ".venv-uv" / "bin" / "uv")
    clips = [DATA / c for c in CLIPS]
    missing = [str(c) for c in clips if not c.is_file()]
    if missing:
        sys.exit(f"missing clips: {', '.join(missing)} (../shared/data/gtzan-mini)")
    with tempfile.TemporaryDirectory(prefix="musicnn-ref-") as tmp:
        venv = Path(tmp) / "venv"
        py = str(venv / "bin" / "python")
        _run([uv, "venv", "--python", sys.executable, str(venv)])
        pins = [f"{p}=={_installed(p)}" for p in ("librosa", "soxr", "numpy", "scipy", "soundfile")]
        _run([uv, "pip", "install", "--python", py, "tensorflow-cpu==2.21.0", *pins])
        _run([uv, "pip", "install", "--python", py, "--no-deps", "tf-keras==2.21.0", "musicnn==0.1.0"])
        site = subprocess.run([py, "-c", "import musicnn, os; print(os.path.dirname(musicnn.__file__))"],
                              check=True, capture_output=True, text=True).stdout.strip()
        source = Path(site, "extractor.py")
        text = source.read_text()
        for old, new in FIXES:
            if text.count(old) != 1:
                sys.exit(f"fix not applicable to {source}: {old!r} occurs {text.count(old)} times")
            text = text.replace(old, new)
        source.write_text(text)
        runner = Path(tmp, "runner.py")
        runner.write_text(RUNNER % (CHECKPOINTS, PATCHES))
        OUT.parent.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "TF_USE_LEGACY_KERAS": "1", "CUDA_VISIBLE_DEVICES": ""}
        _run([py, str(runner), str(OUT), *map(str, clips)], env=env)
    meta = OUT.with_suffix(".json")
    meta.write_text(json.dumps({"clips": CLIPS, "checkpoints": CHECKPOINTS, "patches": PATCHES,
                                "made_by": "scripts/musicnn_reference.py", "fixes": [new for _, new in FIXES]},
                               indent=1) + "\n")
    print(f"wrote {OUT} ({OUT.stat().st_size // 1024} KiB) and {meta}")


if __name__ == "__main__":
    main()
