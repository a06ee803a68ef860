"""`genre train-classical`: the four classical models on an existing feature table."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from flows.cli.common import config_args, home_dir, parse_overrides


def cmd_train_classical(args: argparse.Namespace) -> int:
    from datetime import UTC, datetime

    from genre.config import load_config
    from genre.models.feature_table import TableError, read_table, train_table

    overrides = {"classical.models": args.models, "classical.search_iterations": args.iterations,
                 "classical.cv_folds": args.folds, "classical.imbalance": args.imbalance,
                 "workers": args.workers, **parse_overrides(args.set)}
    cfg = load_config(args.config, home=home_dir(args), **overrides)
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
        took = f"  ({row['fit_seconds']:.1f} s)" if row["fit_seconds"] != "" else ""
        print(f"{row['model']:<14} ROC-AUC {row['roc_auc']:.4f} [{row['ci95_low']:.4f}, {row['ci95_high']:.4f}]  "
              f"accuracy {row['accuracy']:.4f}  macro-F1 {row['macro_f1']:.4f}{took}")
    for name, reason in report.skipped.items():
        print(f"{name:<14} skipped: {reason}")
    print(f"chosen: {report.best} ({report.basis}); measured on {report.split} clips")
    print(f"report: {out / 'report.html'} and {out / 'report.md'}; model: {run.model_path}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    tc = sub.add_parser(
        "train-classical", help="tune and compare SVM/LR/RF/XGBoost on a feature table (CSV or Parquet)",
        description="Train the four classical models from an existing feature table: every numeric column but the "
                    "label and group is a feature (other columns are ignored, with a message). Each model gets a "
                    "randomised search over StratifiedGroupKFold folds scored by clip-level macro one-vs-rest "
                    "ROC-AUC. The candidates (each model, their average, a weighted average and stacking) are scored "
                    "on held-apart clips (out-of-fold and validation predictions) and the best is chosen, ties to the "
                    "simpler; every model and candidate is reported on the test "
                    "clips (--test-table, or a held-out share of the table) as report.html/report.md with ROC "
                    "and confusion PNGs. The chosen model (or ensemble) is saved with joblib.",
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
    config_args(tc, "classical.bootstrap=2000")
    tc.set_defaults(func=cmd_train_classical)
