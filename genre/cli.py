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
  genre ingest manifest urls.csv --parallel 8  # download url,label[,start,end] rows with yt-dlp
  genre ingest audioset eval_segments.csv --per-genre 50
  genre run --set cnn.epochs=2 --set classical.search_iterations=8
  genre run --dask-address tcp://10.0.0.5:8786 # feature extraction on an existing Dask cluster
  genre validate                              # re-validate the ingested data; Data Docs in runs/
  genre train-classical --table ../shared/data/gtzan-features/features_30_sec.csv --label-column label
  genre predict song.wav other.mp3            # classify with the champion model
  genre spectrogram song.wav --out pics       # mel spectrogram as a PNG image
  genre serve --port 3000                     # POST /classify with an audio upload
"""


INGEST_EPILOG = """examples:
  genre ingest folder ../shared/data/gtzan-mini
  genre ingest manifest urls.csv --parallel 8 --rate-limit 2M
  genre ingest audioset ../shared/data/audioset/eval_segments.csv --per-genre 20
  genre ingest audioset segs.csv --youtube-url 'http://127.0.0.1:8000/{ytid}.flac'

A manifest row: https://example.org/a.mp3,rock  or  dQw4w9WgXcQ,pop,30,40
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


def _prefect_env() -> None:
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    if os.environ.get("PREFECT_HOME"):
        Path(os.environ["PREFECT_HOME"]).expanduser().mkdir(parents=True, exist_ok=True)


def cmd_run(args: argparse.Namespace) -> int:
    _prefect_env()
    from flows.pipeline import genre_pipeline
    from genre.validate import ValidationError

    try:
        summary = genre_pipeline(data=args.data, config=args.config, home=_home(args),
                                 overrides=_overrides(args.set), dask_address=args.dask_address,
                                 dask_local=args.dask_local or None)
    except (FileNotFoundError, ConnectionError, ValueError, ValidationError) as exc:
        # bad paths, config values, unreachable Dask scheduler, failed critical data checks: the log above has
        # the details; end with the one line that says what went wrong, not a traceback
        print(f"genre run: stopped: {exc}", file=sys.stderr)
        return 1
    print(json.dumps({k: summary[k] for k in ("test", "promoted", "decision")}, indent=2))
    return 0


_INGEST_FLAGS = {"parallel": "ingest.parallelism", "rate_limit": "ingest.rate_limit", "timeout": "ingest.timeout",
                 "retries": "ingest.retries", "youtube_url": "ingest.youtube_url",
                 "allow_file_urls": "ingest.allow_file_urls", "multi_label": "audioset.multi_label"}


def cmd_ingest(args: argparse.Namespace) -> int:
    _prefect_env()
    from flows.ingest import ingest

    overrides = _overrides(args.set)
    overrides.update({key: getattr(args, flag) for flag, key in _INGEST_FLAGS.items()
                      if getattr(args, flag, None) not in (None, False)})
    summary = ingest(source=args.source, kind=args.kind, labels=getattr(args, "labels", None),
                     index=getattr(args, "index", None), per_genre=getattr(args, "per_genre", None),
                     config=args.config, home=_home(args), overrides=overrides)
    print(summary)
    return 1 if summary.failures else 0


def cmd_validate(args: argparse.Namespace) -> int:
    _prefect_env()
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


def cmd_train_classical(args: argparse.Namespace) -> int:
    from datetime import UTC, datetime

    from genre.config import load_config
    from genre.feature_table import TableError, read_table, train_table

    overrides = {"classical.models": args.models, "classical.search_iterations": args.iterations,
                 "classical.cv_folds": args.folds, "classical.imbalance": args.imbalance,
                 "workers": args.workers, **_overrides(args.set)}
    cfg = load_config(args.config, home=_home(args), **overrides)
    out = Path(args.out) if args.out else cfg.runs_dir / f"classical-{datetime.now(UTC).strftime('%Y%m%dT%H%M%S')}"
    try:
        table = read_table(args.table, args.label_column, args.group_column)
        if table.ignored:
            print(f"ignoring non-numeric column(s): {', '.join(table.ignored)}")
        test = read_table(args.test_table, args.label_column, args.group_column, table.features) \
            if args.test_table else None
        print(f"{len(table.labels)} rows, {len(set(table.clips))} clips, {len(table.features)} features, "
              f"{len(set(table.labels))} classes; {cfg.classical.search_iterations} candidates per model, "
              f"{cfg.workers} workers")
        run = train_table(table, cfg, out, test=test)
    except (TableError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    report = run.report
    for row in report.rows():
        print(f"{row['model']:<14} ROC-AUC {row['roc_auc']:.4f} [{row['ci95_low']:.4f}, {row['ci95_high']:.4f}]  "
              f"accuracy {row['accuracy']:.4f}  macro-F1 {row['macro_f1']:.4f}  ({row['fit_seconds']:.1f} s)")
    for name, reason in report.skipped.items():
        print(f"{name:<14} skipped: {reason}")
    print(f"chosen: {report.best} ({report.basis}); measured on {report.split} clips")
    print(f"report: {out / 'report.html'} and {out / 'report.md'}; model: {run.model_path}")
    return 0


def _champion(args: argparse.Namespace) -> tuple[str, dict[str, Any]] | None:
    """The home folder and its champion record; says what to do when there is none."""
    from genre import registry

    home = _home(args)
    record = registry.champion(home)
    if record is None:
        print(f"no champion model in {home}: run `genre run` first", file=sys.stderr)
        return None
    return home, record


def cmd_predict(args: argparse.Namespace) -> int:
    from genre import registry
    from genre.audio import AudioError
    from genre.predictor import Predictor

    found = _champion(args)
    if found is None:
        return 2
    home, record = found
    registry.use_store(home)
    predictor = Predictor.load(registry.model_path(record["tag"]))
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

    from genre.audio import AudioError, load
    from genre.config import load_config
    from genre.features import analyse, clip_mel_db, segment_mels
    from genre.spectrogram import save_png

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
    from genre import registry

    found = _champion(args)
    if found is None:
        return 2
    home, record = found
    env = {**os.environ, "BENTOML_HOME": str(registry.use_store(home))}
    print(f"serving Bento {record['bento']} (model {record['tag']}) on http://{args.host}:{args.port}/classify")
    cmd = [sys.executable, "-m", "bentoml", "serve", record["bento"], "--host", args.host, "--port", str(args.port)]
    return subprocess.call(cmd, env=env)


def _config_args(sub: argparse.ArgumentParser, example: str) -> None:
    sub.add_argument("--config", help="TOML file with config sections (see genre/config.py)")
    sub.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                     help=f"override one config value, e.g. {example} (repeatable)")


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
    _config_args(run, "cnn.epochs=2")
    where = run.add_mutually_exclusive_group()
    where.add_argument("--dask-address", metavar="tcp://HOST:PORT",
                       help="run the feature tasks on this existing Dask cluster (workers need the genre package "
                            "and the same GENRE_HOME on a shared filesystem); default: a local process pool with "
                            "one process per core (--set workers=N)")
    where.add_argument("--dask-local", action="store_true",
                       help="run the feature tasks on a temporary local Dask cluster of `workers` processes")
    run.set_defaults(func=cmd_run)

    ing = sub.add_parser("ingest", help="bring audio into the store and catalog (folder | manifest | audioset)",
                         description="Store audio once under its sha256 and record one catalog row per item, as "
                                     "the Prefect flow 'ingest'. Reruns skip what is done; failures are rows with "
                                     "a reason and the batch goes on. Exit status 1 when any item failed.",
                         formatter_class=argparse.RawDescriptionHelpFormatter, epilog=INGEST_EPILOG)
    kinds = ing.add_subparsers(dest="kind", required=True, metavar="KIND")
    folder = kinds.add_parser("folder", help="a folder laid out as <root>/<genre>/<clip>",
                              description="Labels come from the folder names, normalised ('Hip Hop' -> hip-hop). "
                                          "Files are stored as they are (wav, flac, mp3, ogg, au; m4a/webm via ffmpeg).")
    folder.add_argument("source", metavar="ROOT", help="the folder")
    folder.add_argument("--labels", metavar="CSV", help="file,label CSV (paths relative to ROOT) overriding labels")
    manifest = kinds.add_parser("manifest", help="a CSV of url,label[,start,end] rows, downloaded with yt-dlp",
                                description="Each row: an http(s) URL or a YouTube id/URL, a label and optionally "
                                            "start,end seconds. Best audio is downloaded (only [start, end] when "
                                            "given), converted to lossless FLAC at ingest.sample_rate, and stored by "
                                            "content hash. file:// URLs are refused unless --allow-file-urls.")
    manifest.add_argument("source", metavar="CSV", help="the manifest")
    audioset = kinds.add_parser("audioset", help="an AudioSet segment CSV, mapped to genres, downloaded with yt-dlp",
                                description="Reads YTID, start_seconds, end_seconds, positive_labels rows and "
                                            "class_labels_indices.csv (beside the CSV unless --index), maps ontology "
                                            "classes to genres (config section 'audioset'; default: the seven of "
                                            "Pop, Rock, Hip hop, Techno, Rhythm and blues, Vocal, Reggae) and "
                                            "downloads the segments. YouTube needs Deno and yt-dlp[default]; "
                                            "--youtube-url points at a mirror instead.")
    audioset.add_argument("source", metavar="SEGMENTS_CSV", help="e.g. balanced_train_segments.csv")
    audioset.add_argument("--index", metavar="CSV", help="label index (default: class_labels_indices.csv beside it)")
    audioset.add_argument("--per-genre", type=int, metavar="N", help="at most N segments per genre")
    audioset.add_argument("--multi-label", choices=["drop", "first"],
                          help="a clip tagged with several genres: drop it (default) or take the first in the mapping")
    for sp in (folder, manifest, audioset):
        _config_args(sp, "ingest.sample_rate=16000")
        sp.set_defaults(func=cmd_ingest)
    for sp in (manifest, audioset):
        sp.add_argument("--parallel", type=int, metavar="N", help="downloads at once (default 4)")
        sp.add_argument("--rate-limit", metavar="RATE", help="bytes/s per download, e.g. 500K or 2M")
        sp.add_argument("--timeout", type=float, metavar="S", help="seconds of silence before an item fails (30)")
        sp.add_argument("--retries", type=int, metavar="N", help="retries of network errors per item (default 2)")
        sp.add_argument("--youtube-url", metavar="TEMPLATE",
                        help="where YouTube ids point, e.g. http://mirror/{ytid}.webm (default: youtube.com)")
    manifest.add_argument("--allow-file-urls", action="store_true", help="accept file:// URLs")

    val = sub.add_parser("validate", help="validate the ingested data with Great Expectations",
                         description="Run the catalog, ingestion, audio-content and class-balance suites on the "
                                     "catalog in --home, quarantine items that fail a warning (kept in the store, "
                                     "left out of training) and write offline GX Data Docs. Exit status 1 when a "
                                     "critical expectation fails.")
    _config_args(val, "validation.min_rms=0.002")
    val.add_argument("--out", help="folder for the report (default: <home>/runs/validate-<time>); the Data Docs "
                                   "land in <out>/validation/index.html")
    val.set_defaults(func=cmd_validate)

    tc = sub.add_parser(
        "train-classical", help="tune and compare SVM/LR/RF/XGBoost on a feature table (CSV or Parquet)",
        description="Train the four classical models from an existing feature table: every numeric column but the "
                    "label and group is a feature (other columns are ignored, with a message). Each model gets a "
                    "randomised search over StratifiedGroupKFold folds scored by clip-level macro one-vs-rest "
                    "ROC-AUC; the best on the validation clips is chosen and every model is reported on the test "
                    "clips (--test-table, or a held-out share of the table) as report.html/report.md with ROC "
                    "and confusion PNGs. The best model is saved with joblib.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="examples:\n  genre train-classical --table ../shared/data/gtzan-features/features_30_sec.csv "
               "--label-column label --iterations 20\n  genre train-classical --table train.parquet --test-table "
               "test.parquet --label-column genre --group-column clip_id --imbalance oversample")
    tc.add_argument("--table", required=True, metavar="FILE", help="training table, .csv or .parquet")
    tc.add_argument("--label-column", default="label", metavar="COL", help="column holding the class (default label)")
    tc.add_argument("--group-column", metavar="COL",
                    help="column naming the clip a row belongs to: its rows stay in one fold and are averaged into "
                         "one prediction (default: every row is its own clip)")
    tc.add_argument("--test-table", metavar="FILE", help="table to report on (default: hold out a share of --table)")
    tc.add_argument("--out", metavar="DIR", help="report folder (default: <home>/runs/classical-<time>)")
    tc.add_argument("--models", nargs="+", choices=["svm", "logreg", "random_forest", "xgboost"],
                    help="models to train (default: all four)")
    tc.add_argument("--iterations", type=int, metavar="N",
                    help="search budget: candidates per model, the first being the defaults (default 4; 20-40 "
                         "for real runs)")
    tc.add_argument("--folds", type=int, metavar="K", help="cross-validation folds (default 3)")
    tc.add_argument("--imbalance", choices=["balanced", "oversample", "undersample", "none"],
                    help="class imbalance: balanced weights (default) or random over/under-sampling of training folds")
    tc.add_argument("--workers", type=int, metavar="N", help="parallel jobs (default: all cores)")
    _config_args(tc, "classical.bootstrap=2000")
    tc.set_defaults(func=cmd_train_classical)

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
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
