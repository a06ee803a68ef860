"""`genre run` and `genre validate`: the pipeline and the data checks as Prefect flows."""

from __future__ import annotations

import argparse
import json
import sys

from flows.cli.common import config_args, home_dir, parse_overrides, prefect_env


def cmd_run(args: argparse.Namespace) -> int:
    prefect_env()
    from flows.pipeline import genre_pipeline
    from flows.run import StageFailed
    from genre.config import RunSettings
    from genre.validation.runner import ValidationError

    try:
        settings = RunSettings.from_dotted({**parse_overrides(args.set), "dask_address": args.dask_address,
                                            "dask_local": args.dask_local or None})
        summary = genre_pipeline(data=args.data, config=args.config, home=home_dir(args), settings=settings)
    except (FileNotFoundError, ConnectionError, ValueError, ValidationError, StageFailed) as exc:
        # bad paths, config values, unreachable Dask scheduler, failed critical data checks: the log above has
        # the details; end with the one line that says what went wrong (and in which stage), not a traceback
        cause = exc.__cause__ if isinstance(exc, StageFailed) else exc
        if not isinstance(cause, (FileNotFoundError, ConnectionError, ValueError, ValidationError)):
            raise  # a bug, not bad input: the traceback is what a report needs
        where = f" in stage {exc.stage}" if isinstance(exc, StageFailed) else ""
        print(f"genre run: stopped{where}: {cause}", file=sys.stderr)
        return 1
    print(json.dumps({k: summary[k] for k in ("test", "promoted", "decision")}, indent=2))
    return 0


def cmd_validate(args: argparse.Namespace) -> int:
    prefect_env()
    from genre.config import load_config

    home = home_dir(args)
    cfg = load_config(args.config, home=home, **parse_overrides(args.set))
    if not cfg.catalog_path.is_file():
        print(f"no catalog in {home}: ingest data first with `genre run --data FOLDER`", file=sys.stderr)
        return 2
    from flows.validate import validate
    from genre.validation.runner import ValidationError

    try:
        validate(cfg=cfg, run_dir=args.out)
    except ValidationError:
        return 1  # the flow printed the failed expectations and where the Data Docs are
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    run = sub.add_parser("run", help="run the whole pipeline as a Prefect flow",
                         description="Ingest, validate, extract features, train SVM/LR/RF/XGBoost and VGG16, "
                                     "ensemble, evaluate on the frozen test split, gate on ROC-AUC and package the "
                                     "winner with BentoML. Uses Prefect's local API unless PREFECT_API_URL is set.")
    run.add_argument("--data", help="folder laid out as <root>/<genre>/<clip>; default: the SYNTHETIC demo set")
    config_args(run, "cnn.epochs=2")
    where = run.add_mutually_exclusive_group()
    where.add_argument("--dask-address", metavar="tcp://HOST:PORT",
                       help="run the feature tasks on this existing Dask cluster (workers need the genre package "
                            "and the same GENRE_HOME on a shared filesystem); default: a local process pool with "
                            "one process per core (--set workers=N)")
    where.add_argument("--dask-local", action="store_true",
                       help="run the feature tasks on a temporary local Dask cluster of `workers` processes")
    run.set_defaults(func=cmd_run)

    val = sub.add_parser("validate", help="validate the ingested data with Great Expectations",
                         description="Run the catalog, ingestion, audio-content and class-balance suites on the "
                                     "catalog in --home, quarantine items that fail a warning (kept in the store, "
                                     "left out of training) and write offline GX Data Docs. Exit status 1 when a "
                                     "critical expectation fails.")
    config_args(val, "validation.min_rms=0.002")
    val.add_argument("--out", help="folder for the report (default: <home>/runs/validate-<time>); the Data Docs "
                                   "land in <out>/validation/index.html")
    val.set_defaults(func=cmd_validate)
