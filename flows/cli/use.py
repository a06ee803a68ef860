"""`genre predict`, `genre spectrogram` and `genre serve`: the champion and the mel images, for people."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

from flows.cli.common import champion_record


def cmd_predict(args: argparse.Namespace) -> int:
    from genre.data.audio import AudioError
    from genre.serving import registry
    from genre.serving.predictor import IncompatibleModel, Predictor

    found = champion_record(args)
    if found is None:
        return 2
    home, record = found
    registry.use_store(home)
    try:
        predictor = Predictor.load(registry.model_path(record["tag"]))
    except IncompatibleModel as exc:
        print(f"genre predict: {exc}", file=sys.stderr)
        return 2
    failed = 0
    for path in args.files:
        try:
            result = predictor.classify_file(path)
        except (AudioError, ValueError) as exc:
            print(f"{path}: error: {exc}", file=sys.stderr)
            failed += 1
            continue
        probs = result.probabilities
        top = sorted(probs.items(), key=lambda kv: -kv[1])
        if args.json:
            print(json.dumps({"file": path, "genre": result.genre, "probabilities": probs,
                              "unusual_features": result.unusual_features, "model": record["tag"]}))
            continue
        print(f"{path}: {top[0][0]} ({top[0][1]:.2f}); " + ", ".join(f"{k} {v:.2f}" for k, v in top[1:4]))
        if result.unusual_features:
            print(f"  warning: {len(result.unusual_features)} features lie outside the training ranges "
                  f"({', '.join(result.unusual_features[:5])}): this clip is unlike the training data")
    return 1 if failed else 0


def _image_size(text: str) -> tuple[int, int]:
    width, _, height = text.lower().partition("x")
    try:
        size = (int(width), int(height or width))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected WIDTHxHEIGHT or SIDE in pixels, e.g. 432x288, got {text!r}") from None
    if min(size) < 1:
        raise argparse.ArgumentTypeError(f"image size must be positive, got {text!r}")
    return size


def cmd_spectrogram(args: argparse.Namespace) -> int:
    from tqdm.auto import tqdm

    from genre.config import load_config
    from genre.data.audio import AudioError, load
    from genre.features.extractor import analyse, clip_mel_db, segment_mels
    from genre.features.images import save_png

    cfg = load_config(args.config).features
    out = Path(args.out)
    failed = 0
    for path in tqdm(args.files, desc="spectrograms", unit="file", disable=len(args.files) < 2):
        try:
            sp = analyse(load(path, cfg.sample_rate), cfg)
        except (AudioError, ValueError) as exc:
            print(f"{path}: error: {exc}", file=sys.stderr)
            failed += 1
            continue
        stem = Path(path).stem
        if args.segments:
            for i, mel in enumerate(segment_mels(sp)):
                save_png(mel, out / f"{stem}-{i:02d}.png", args.size, cfg.top_db, args.cmap)
        else:
            save_png(clip_mel_db(sp), out / f"{stem}.png", args.size, cfg.top_db, args.cmap)
    print(f"{len(args.files) - failed} of {len(args.files)} files rendered into {out}")
    return 1 if failed else 0


def cmd_serve(args: argparse.Namespace) -> int:
    from genre.serving import registry

    found = champion_record(args)
    if found is None:
        return 2
    home, record = found
    env = {**os.environ, "BENTOML_HOME": str(registry.use_store(home))}
    print(f"serving Bento {record['bento']} (model {record['tag']}) on http://{args.host}:{args.port}/classify")
    cmd = [sys.executable, "-m", "bentoml", "serve", record["bento"], "--host", args.host, "--port", str(args.port)]
    return subprocess.call(cmd, env=env)


def register(sub: argparse._SubParsersAction) -> None:
    pred = sub.add_parser("predict", help="classify audio files with the champion model",
                          description="Classify audio files locally with the champion (same predictor as the service).")
    pred.add_argument("files", nargs="+", metavar="FILE", help="audio files (wav, flac, mp3, ogg, au, m4a...)")
    pred.add_argument("--json", action="store_true", help="one JSON object per file")
    pred.set_defaults(func=cmd_predict)

    spec = sub.add_parser("spectrogram", help="render mel spectrograms of audio files as PNG images",
                          description="Render the mel spectrogram the pipeline uses (config [features]: 96 mels, "
                                      "pre-emphasis, dB) as PNG images straight from the array, one per file or one "
                                      "per segment (the CNN's input). Bad files are reported and skipped.")
    spec.add_argument("files", nargs="+", metavar="FILE", help="audio files (wav, flac, mp3, ogg, au, m4a...)")
    spec.add_argument("--out", default="spectrograms", help="output folder (default: ./spectrograms)")
    spec.add_argument("--size", type=_image_size, default=(432, 288), metavar="WxH",
                      help="image size in pixels, WIDTHxHEIGHT or SIDE (default 432x288)")
    spec.add_argument("--segments", action="store_true", help="one image per segment instead of one per file")
    spec.add_argument("--cmap", default="magma", help="matplotlib colormap name (default magma)")
    spec.add_argument("--config", help="TOML file with a [features] section (see genre/config.py)")
    spec.set_defaults(func=cmd_spectrogram)

    serve = sub.add_parser("serve", help="serve the champion over HTTP with BentoML",
                           description="Serve the champion's Bento with `bentoml serve`: POST /classify with the audio "
                                       "file in a multipart field named 'audio'; the answer holds the top genre, a "
                                       "probability per genre and the model tag.")
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=3000, help="port (default 3000)")
    serve.set_defaults(func=cmd_serve)
