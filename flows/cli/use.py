"""`genre predict`, `genre spectrogram`, `genre serve` and `genre package`: the champion and the mel images,
for people."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

from flows.cli.common import champion_record, config_args, home_dir, parse_overrides


def cmd_predict(args: argparse.Namespace) -> int:
    from genre.data.audio import AudioError
    from genre.serving import registry
    from genre.serving.predictor import IncompatibleModel, Predictor
    from genre.threads import one_blas_thread

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
    one_blas_thread()  # one clip at a time: a second BLAS thread only spins (genre/threads.py)
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
    from genre.config import load_config
    from genre.serving import registry

    found = champion_record(args)
    if found is None:
        return 2
    home, record = found
    cfg = load_config(args.config, **{**parse_overrides(args.set), "serve.host": args.host,
                                      "serve.port": args.port}).serve
    env = {**os.environ, "BENTOML_HOME": str(registry.use_store(home)), "GENRE_SERVE_CONFIG": cfg.model_dump_json(),
           "GENRE_HOME": str(Path(home).resolve())}  # absolute: `bentoml serve BENTO` runs in the Bento's folder
    bento = args.bento or record.get("bento") or registry.bento_for(record["tag"], record["tag"].split(":")[0])
    base = f"http://{cfg.host}:{cfg.port}"
    print(f"serving Bento {bento} on {base}: the page at {base}/, POST /classify, POST /classify_batch, GET /model; "
          f"API description at {base}/docs")
    if cfg.token or env.get("GENRE_SERVE_TOKEN"):
        print("requests to the API need the header 'Authorization: Bearer <token>'")
    if cfg.host not in ("127.0.0.1", "localhost", "::1"):
        print(f"warning: bound to {cfg.host}, so other machines can reach it"
              + ("" if cfg.token or env.get("GENRE_SERVE_TOKEN") else "; no token is required (serve.token)"),
              file=sys.stderr)
    cmd = [sys.executable, "-m", "bentoml", "serve", bento, "--host", cfg.host, "--port", str(cfg.port)]
    return subprocess.call(cmd, env=env)


def cmd_package(args: argparse.Namespace) -> int:
    from genre.config import load_config
    from genre.serving import registry

    home = home_dir(args)
    registry.use_store(home)
    tag = args.tag
    if tag is None:
        record = registry.champion(home)
        if record is None:
            print(f"no champion model in {home}: name a model TAG (`genre models list`) or run `genre run`",
                  file=sys.stderr)
            return 2
        tag = record["tag"]
    from bentoml.exceptions import BentoMLException

    try:
        registry.model_path(tag)
    except (BentoMLException, ValueError) as exc:  # no such model, or not a NAME:VERSION tag
        print(f"genre package: no model {tag} in {home}: {exc}", file=sys.stderr)
        return 2
    bento = registry.build_bento(tag, load_config(args.config, **parse_overrides(args.set)).model_name)
    print(f"built Bento {bento} serving model {tag}\n"
          f"  serve it:         genre serve --bento {bento}\n"
          f"  container image:  BENTOML_HOME={registry.use_store(home)} bentoml containerize {bento} "
          "(needs a running Docker daemon)")
    return 0


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
                                       "file in a multipart field named 'audio' (the top genre, a probability per "
                                       "genre, the seconds analysed, the model tag), POST /classify_batch with "
                                       "several, GET /model; /livez, /readyz and /metrics from BentoML. Limits and "
                                       "the optional bearer token are the [serve] config section (the token also "
                                       "from GENRE_SERVE_TOKEN).")
    serve.add_argument("--host", help="address to bind (default serve.host: 127.0.0.1, this machine only)")
    serve.add_argument("--port", type=int, help="port (default serve.port: 3000)")
    serve.add_argument("--bento", help="serve this Bento (default: the champion's)")
    config_args(serve, "serve.max_upload_mb=20")
    serve.set_defaults(func=cmd_serve)

    package = sub.add_parser("package", help="build the Bento of a model (default: the champion)",
                             description="Build a Bento (service code, model, Python packages) serving model TAG; "
                                         "the pipeline's last stage does the same for every promoted model. "
                                         "`bentoml containerize BENTO` turns it into an OCI image where a Docker "
                                         "daemon runs.")
    package.add_argument("tag", nargs="?", metavar="TAG", help="model tag NAME:VERSION (default: the champion)")
    config_args(package, "model_name=genre-classifier")
    package.set_defaults(func=cmd_package)
