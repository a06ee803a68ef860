"""Frozen train/validation/test split at clip level.

A clip's split is decided once, saved, and never changes: reruns and new clips never
move an old clip, so the test split stays comparable between champion and challenger.
New clips are assigned per label to keep each split near its target share.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pandas as pd

from genre.atomic import write_json
from genre.config import SplitConfig

SPLITS = ("train", "validation", "test")


def _order(clip_id: str, seed: int) -> str:
    return hashlib.sha256(f"{seed}:{clip_id}".encode()).hexdigest()


def assign_splits(clips: pd.DataFrame, cfg: SplitConfig, frozen: dict[str, str] | None = None) -> dict[str, str]:
    """Map every clip id to train/validation/test; ``frozen`` assignments are kept."""
    out = dict(frozen or {})
    targets = {"test": cfg.test, "validation": cfg.validation}
    for _, group in clips.groupby("label", sort=True):
        ids = list(group["clip_id"])
        counts = {s: sum(out.get(c) == s for c in ids) for s in SPLITS}
        new = sorted((c for c in ids if c not in out), key=lambda c: _order(c, cfg.seed))
        for clip in new:
            total = sum(counts.values()) + 1
            # give the clip to the split that lags its target most; train takes the rest
            lag = {s: targets[s] * total - counts[s] for s in targets}
            split = max(lag, key=lag.get)
            if lag[split] < 0.5 or (split == "test" and counts["test"] == 0 and total < 3):
                split = "train"
            out[clip] = split
            counts[split] += 1
    return {c: out[c] for c in clips["clip_id"]}


def load_frozen(path: Path) -> dict[str, str]:
    return json.loads(path.read_text()) if path.is_file() else {}


def freeze(path: Path, clips: pd.DataFrame, cfg: SplitConfig) -> dict[str, str]:
    """Assign splits, merging with and updating the frozen file at ``path``."""
    frozen = load_frozen(path)
    assignment = assign_splits(clips, cfg, frozen)
    write_json(path, {**frozen, **assignment})
    return assignment


def fingerprint(assignment: dict[str, str], split: str = "test") -> str:
    """Hash of the clip ids in one split: equal hashes mean the same test set."""
    ids = sorted(c for c, s in assignment.items() if s == split)
    return hashlib.sha256("\n".join(ids).encode()).hexdigest()[:12]
