"""Bench: every member and every ensemble method on gtzan-mini over several split seeds, and how often the
candidate chosen on held-apart clips was the best on the test clips.

For each seed the library freezes a fresh train/validation/test split of the 70 clips, trains the classical members
(and VGG16 with ``--cnn-epochs N``), and runs the pipeline's own ``evaluate``: candidates scored on held-apart clips
(out-of-fold + validation without VGG16; validation only with it), the chosen one applied to the test clips. The
test clips only score. Printed: mean and spread of test ROC-AUC and accuracy per member and method, the chosen
candidate beside the best single member, and the share of seeds where the chosen one was (one of) the best on test.

    PYTHONPATH=. python bench/ensemble.py --seeds 1 2 3 4 5
"""

from __future__ import annotations

import argparse
import re
import time
from pathlib import Path

import pandas as pd

from genre.config import SplitConfig, load_config
from genre.data.store import sha256_file
from genre.evaluation.evaluate import evaluate
from genre.features.dataset import extract_dataset
from genre.metrics.plots import markdown_table
from genre.models.split import assign_splits
from genre.models.train import Split, cv_groups, train_classical, train_cnn
from genre.serving.predictor import ENSEMBLE

DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "gtzan-mini"


def family(name: str) -> str:
    """``average(svm+logreg)`` -> ``average over all`` or ``average over 2``; a member stays itself."""
    found = re.match(r"(\w+)\((.*)\)", name)
    return name if not found else f"{found[1]} of {len(found[2].split('+'))}"


def per_candidate(rows: list[dict[str, object]]) -> str:
    """Markdown table of each candidate's test ROC-AUC and accuracy over the seeds (mean and spread), best first."""
    summary = pd.DataFrame(rows).groupby("candidate").agg(
        roc_auc_mean=("roc_auc", "mean"), roc_auc_std=("roc_auc", "std"), accuracy_mean=("accuracy", "mean"),
        accuracy_std=("accuracy", "std"), seeds=("seed", "nunique"))
    return markdown_table(summary.sort_values("roc_auc_mean", ascending=False).round(4).reset_index()
                          .to_dict("records"))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3, 4, 5], help="split seeds (default 1-5)")
    p.add_argument("--iterations", type=int, default=4, help="search budget per classical model (default 4)")
    p.add_argument("--cnn-epochs", type=int, default=0, help="train VGG16 as a member for N epochs (default 0: no)")
    p.add_argument("--home", default=".genre-bench", help="feature cache and VGG16 checkpoints (default .genre-bench)")
    args = p.parse_args()
    cfg = load_config(home=args.home, **{"classical.search_iterations": args.iterations,
                                         "cnn.epochs": max(args.cnn_epochs, 1)})  # the other VGG16 settings: defaults
    clips = pd.DataFrame([{"clip_id": f.stem, "label": g.name, "sha256": sha256_file(f), "path": str(f)}
                          for g in sorted(DATA.iterdir()) if g.is_dir() for f in sorted(g.iterdir())])
    fs = extract_dataset(clips, list(clips["path"]), cfg.feature_cache, cfg.features, workers=cfg.workers)
    labels = sorted(clips["label"].unique())
    groups = cv_groups(clips)
    rows, chosen_rows = [], []
    start = time.perf_counter()
    for seed in args.seeds:
        assignment = assign_splits(clips, SplitConfig(seed=seed))
        train, val, test = (Split.of(fs, assignment, s, labels, groups) for s in ("train", "validation", "test"))
        result = train_classical(train, val, cfg, progress=False)
        cnn = train_cnn(train, val, len(labels), cfg, progress=False) if args.cnn_epochs else None
        ev = evaluate(result, cnn, train, val, test, labels, cfg)
        for name, s in ev.test.items():
            if name != ENSEMBLE:
                rows.append({"seed": seed, "candidate": family(name), "roc_auc": s.roc_auc, "accuracy": s.accuracy})
        members = {c.name: ev.test[c.name].roc_auc for c in ev.selection.candidates if c.method == "member"}
        best_on_test = max(s.roc_auc for n, s in ev.test.items() if n != ENSEMBLE)
        chosen_rows.append({"seed": seed, "chosen": ev.chosen, "held_apart_clips": ev.selection.n_clips,
                            "chosen_test_roc_auc": round(ev.roc_auc, 4),
                            "best_member_test_roc_auc": round(max(members.values()), 4),
                            "chosen_was_best_on_test": bool(ev.roc_auc >= best_on_test - 1e-9)})
        print(f"seed {seed}: chosen {ev.chosen} on {ev.selection.n_clips} held-apart clips, test ROC-AUC "
              f"{ev.roc_auc:.4f} (best member {max(members.values()):.4f})", flush=True)
    print(f"\ngtzan-mini, {len(args.seeds)} split seeds, {args.iterations} search candidates per model, "
          f"VGG16: {f'{args.cnn_epochs} epochs' if args.cnn_epochs else 'not a member'}; "
          f"{time.perf_counter() - start:.0f} s\n")
    print(per_candidate(rows))
    chosen = pd.DataFrame(chosen_rows)
    print("\n" + markdown_table(chosen_rows))
    print(f"\nchosen candidate: mean test ROC-AUC {chosen['chosen_test_roc_auc'].mean():.4f}; the best single member "
          f"of each seed (known only after the fact): {chosen['best_member_test_roc_auc'].mean():.4f}; the chosen "
          f"one was (one of) the best on test in {int(chosen['chosen_was_best_on_test'].sum())} of {len(chosen)} seeds")


if __name__ == "__main__":
    main()
