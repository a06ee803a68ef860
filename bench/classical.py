"""Bench: tuned classical models against plain defaults, measured on clips under outer cross-validation.

Each outer fold runs the library's own ``train_classical`` twice on the training part: once with the search
budget (``--iterations`` candidates per model) and once with the defaults only (``search_iterations=1``, the
baseline). The winner of each run is chosen by its inner clip-level CV ROC-AUC; every model and the winner are
then measured on the outer test fold. Scores pool the out-of-fold clip probabilities of all folds.

1. ``table``: ../shared/data/gtzan-features/features_30_sec.csv (1000 clips, one row each), 5-fold stratified CV.
2. ``audio``: the 70 gtzan-mini clips cut into segments (features cached under <home>/features), 5-fold CV grouped
   by clip; clip = mean of its segments' probabilities.

    PYTHONPATH=. python bench/classical.py --part both --iterations 6
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd

from genre.config import Config, load_config
from genre.data.store import sha256_file
from genre.features.dataset import extract_dataset
from genre.metrics.scores import clip_truth, score
from genre.models.classical import grouped_folds, predict_proba
from genre.models.feature_table import read_table
from genre.models.train import Split, train_classical

DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data"
WINNER = "winner"


def subset(split: Split, rows: np.ndarray) -> Split:
    return Split(X=split.X[rows], mels=np.zeros((len(rows), 0)), y=split.y[rows], clips=split.clips[rows])


def outer_cv(data: Split, n_classes: int, configs: dict[str, Config], folds: int, seed: int) -> dict[str, dict]:
    """Out-of-fold segment probabilities of every model and the winner, winners per fold and time, per config."""
    out = {tag: {"probs": {}, "winners": [], "seconds": 0.0} for tag in configs}
    for k, (train_rows, test_rows) in enumerate(grouped_folds(data.y, data.clips, folds, seed)):
        train, test = subset(data, train_rows), subset(data, test_rows)
        for tag, cfg in configs.items():
            start = time.perf_counter()
            result = train_classical(train, None, cfg, progress=False)
            out[tag]["seconds"] += time.perf_counter() - start
            out[tag]["winners"].append(result.best)
            for name in (*result.fitted, WINNER):
                model = result.fitted[result.best if name == WINNER else name].model
                probs = out[tag]["probs"].setdefault(name, np.zeros((len(data.y), n_classes)))
                probs[test_rows] = predict_proba(model, test.X, n_classes)
            print(f"  fold {k + 1}/{folds} {tag:<8} winner {result.best:<14} ({time.perf_counter() - start:.0f} s)",
                  flush=True)
    return out


def table(data: Split, runs: dict[str, dict], title: str) -> str:
    """Markdown: clip-level ROC-AUC and accuracy of every model, defaults vs tuned, with ratios."""
    header = "| model | ROC-AUC defaults | ROC-AUC tuned | ratio | accuracy defaults | accuracy tuned | ratio |"
    lines = [f"#### {title}", "", header, "|---|---|---|---|---|---|---|"]
    base, tuned = runs["defaults"], runs["tuned"]
    for name in base["probs"]:
        a, b = (score(*clip_truth(r["probs"][name], data.y, data.clips)) for r in (base, tuned))
        lines.append(f"| {'**winner**' if name == WINNER else name} | {a.roc_auc:.4f} | {b.roc_auc:.4f} | "
                     f"{b.roc_auc / a.roc_auc:.3f} | {a.accuracy:.4f} | {b.accuracy:.4f} | "
                     f"{b.accuracy / a.accuracy:.3f} |")
    lines += ["", f"Winners per fold: defaults {', '.join(base['winners'])}; tuned {', '.join(tuned['winners'])}.",
              (f"Time (all folds, search + refits): defaults {base['seconds']:.0f} s, tuned {tuned['seconds']:.0f} s "
               f"({tuned['seconds'] / base['seconds']:.1f}x).")]
    return "\n".join(lines)


def table_data() -> tuple[Split, int]:
    t = read_table(DATA / "gtzan-features" / "features_30_sec.csv", "label")
    labels = sorted(set(t.labels))
    y = np.array([labels.index(v) for v in t.labels])
    return Split(X=t.X, mels=np.zeros((len(y), 0)), y=y, clips=t.clips), len(labels)


def audio_data(cfg: Config) -> tuple[Split, int]:
    root = DATA / "gtzan-mini"
    clips = pd.DataFrame([{"clip_id": f.stem, "label": g.name, "sha256": sha256_file(f), "path": str(f)}
                          for g in sorted(root.iterdir()) if g.is_dir() for f in sorted(g.iterdir())])
    fs = extract_dataset(clips, list(clips["path"]), cfg.feature_cache, cfg.features, workers=cfg.workers)
    labels = sorted(clips["label"].unique())
    y = fs.table["label"].map({v: i for i, v in enumerate(labels)}).to_numpy()
    return Split(X=fs.features(), mels=np.zeros((len(y), 0)), y=y, clips=fs.table["clip_id"].to_numpy()), len(labels)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--part", choices=["table", "audio", "both"], default="both")
    p.add_argument("--iterations", type=int, default=6, help="tuned search budget per model (default 6)")
    p.add_argument("--inner-folds", type=int, default=3)
    p.add_argument("--folds", type=int, default=5, help="outer folds (default 5)")
    p.add_argument("--home", default=".genre", help="where the audio features are cached (default .genre)")
    args = p.parse_args()
    tuned = load_config(home=args.home, **{"classical.search_iterations": args.iterations,
                                           "classical.cv_folds": args.inner_folds})
    configs = {"defaults": tuned.model_copy(update={"classical": tuned.classical.model_copy(
        update={"search_iterations": 1})}), "tuned": tuned}
    print(f"{tuned.workers} workers; tuned: {args.iterations} candidates per model, {args.inner_folds} inner folds; "
          f"defaults: 1 candidate (the defaults)")
    parts = {"table": (f"features_30_sec.csv, {args.folds}-fold stratified CV, 1000 clips", table_data),
             "audio": (f"gtzan-mini from audio, {args.folds}-fold CV grouped by clip, 70 clips as segments",
                       lambda: audio_data(tuned))}
    for part in (("table", "audio") if args.part == "both" else (args.part,)):
        title, load = parts[part]
        print(f"\n{title}", flush=True)
        data, n_classes = load()
        print(table(data, outer_cv(data, n_classes, configs, args.folds, tuned.classical.seed), title))


if __name__ == "__main__":
    main()
