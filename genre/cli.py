"""The ``genre`` command line: run the pipeline, classify files, serve the champion.

Heavy packages (TensorFlow, Prefect, BentoML) are imported only by the command that
needs them, so ``--help`` answers at once.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

EPILOG = """examples:
  genre run                                   # whole pipeline on the SYNTHETIC demo set
  genre run --data ../shared/data/gtzan-mini  # on a folder laid out as <root>/<genre>/<clip>
  genre run --set cnn.epochs=2 --set classical.search_iterations=8
  genre validate                              # re-validate the ingested data; Data Docs in runs/
  genre predict song.wav other.mp3            # classify with the champion model
  genre serve --port 3000                     # POST /classify with an audio upload
"""


def _value(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def _overrides(pairs: list[str]) -> dict[str, Any]:
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise SystemExit(f"--set expects KEY=VALUE (e.g. cnn.epochs=2), got {pair!r}")
        out[key.strip()] = _value(value)
    return out


def _home(args: argparse.Namespace) -> str:
    home = args.home or os.environ.get("GENRE_HOME", ".genre")
    os.environ["GENRE_HOME"] = home
    return home


def cmd_run(args: argparse.Namespace) -> int:
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    if os.environ.get("PREFECT_HOME"):
        Path(os.environ["PREFECT_HOME"]).expanduser().mkdir(parents=True, exist_ok=True)
    from flows.pipeline import genre_pipeline

    summary = genre_pipeline(data=args.data, config=args.config, home=_home(args), overrides=_overrides(args.set))
    print(json.dumps({k: summary[k] for k in ("test", "promoted", "decision")}, indent=2))
    return 0


def cmd_validate(args: argparse.Namespace) -> int:
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    from genre.config import load_config

    home = _home(args)
    cfg = load_config(args.config, home=home, **_overrides(args.set))
    if not cfg.catalog_path.is_file():
        print(f"no catalog in {home}: ingest data first with `genre run --data FOLDER`", file=sys.stderr)
        return 2
    from flows.validate import validate
    from genre.validate import ValidationError

    try:
        validate(cfg=cfg, run_dir=args.out)
    except ValidationError:
        return 1  # the flow printed the failed expectations and where the Data Docs are
    return 0


def cmd_predict(args: argparse.Namespace) -> int:
    from genre import registry
    from genre.audio import AudioError
    from genre.predictor import Predictor

    home = _home(args)
    record = registry.champion(home)
    if record is None:
        print(f"no champion model in {home}: run `genre run` first", file=sys.stderr)
        return 2
    registry.use_store(home)
    predictor = Predictor.load(registry.model_path(record["tag"]))
    failed = 0
    for path in args.files:
        try:
            probs = predictor.predict_file(path)
        except (AudioError, ValueError) as exc:
            print(f"{path}: error: {exc}", file=sys.stderr)
            failed += 1
            continue
        top = sorted(probs.items(), key=lambda kv: -kv[1])
        if args.json:
            print(json.dumps({"file": path, "genre": top[0][0], "probabilities": probs, "model": record["tag"]}))
        else:
            print(f"{path}: {top[0][0]} ({top[0][1]:.2f}); " + ", ".join(f"{k} {v:.2f}" for k, v in top[1:4]))
    return 1 if failed else 0


def cmd_serve(args: argparse.Namespace) -> int:
    home = _home(args)
    from genre import registry

    if registry.champion(home) is None and not os.environ.get("GENRE_MODEL_TAG"):
        print(f"no champion model in {home}: run `genre run` first", file=sys.stderr)
        return 2
    env = {**os.environ, "GENRE_HOME": str(Path(home).resolve()), "BENTOML_HOME": str(registry.use_store(home))}
    cmd = [sys.executable, "-m", "bentoml", "serve", registry.SERVICE, "--host", args.host, "--port", str(args.port)]
    return subprocess.call(cmd, cwd=registry.PROJECT_ROOT, env=env)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="genre", description="Turn labelled music into a served genre classifier.",
                                epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--home", help="where stores, models and runs live (default: $GENRE_HOME or ./.genre)")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = sub.add_parser("run", help="run the whole pipeline as a Prefect flow",
                         description="Ingest, validate, extract features, train SVM/LR/RF/XGBoost and VGG16, "
                                     "ensemble, evaluate on the frozen test split, gate on ROC-AUC and package the "
                                     "winner with BentoML. Uses Prefect's local API unless PREFECT_API_URL is set.")
    run.add_argument("--data", help="folder laid out as <root>/<genre>/<clip>; default: the SYNTHETIC demo set")
    run.add_argument("--config", help="TOML file with config sections (see genre/config.py)")
    run.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                     help="override one config value, e.g. cnn.epochs=2 (repeatable)")
    run.set_defaults(func=cmd_run)

    val = sub.add_parser("validate", help="validate the ingested data with Great Expectations",
                         description="Run the catalog, ingestion, audio-content and class-balance suites on the "
                                     "catalog in --home, quarantine items that fail a warning (kept in the store, "
                                     "left out of training) and write offline GX Data Docs. Exit status 1 when a "
                                     "critical expectation fails.")
    val.add_argument("--config", help="TOML file with config sections (thresholds: [validation])")
    val.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                     help="override one config value, e.g. validation.min_rms=0.002 (repeatable)")
    val.add_argument("--out", help="folder for the report (default: <home>/runs/validate-<time>); the Data Docs "
                                   "land in <out>/validation/index.html")
    val.set_defaults(func=cmd_validate)

    pred = sub.add_parser("predict", help="classify audio files with the champion model",
                          description="Classify audio files locally with the champion (same predictor as the service).")
    pred.add_argument("files", nargs="+", metavar="FILE", help="audio files (wav, flac, mp3, ogg, au, m4a...)")
    pred.add_argument("--json", action="store_true", help="one JSON object per file")
    pred.set_defaults(func=cmd_predict)

    serve = sub.add_parser("serve", help="serve the champion over HTTP with BentoML",
                           description="Start `bentoml serve` for the champion: POST /classify with a multipart "
                                       "field 'audio'.")
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=3000, help="port (default 3000)")
    serve.set_defaults(func=cmd_serve)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
