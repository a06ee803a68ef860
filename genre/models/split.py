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

from genre.atomic import locked, write_json
from genre.config import SplitConfig

SPLITS = ("train", "validation", "test")


def _order(clip_id: str, seed: int) -> str:
    return hashlib.sha256(f"{seed}:{clip_id}".encode()).hexdigest()


def assign_splits(clips: pd.DataFrame, cfg: SplitConfig, frozen: dict[str, str] | None = None) -> dict[str, str]:
    """Map every clip id to train/validation/test; ``frozen`` assignments are kept.

    The unit is the recording (column ``recording`` where the table has one, else the clip): every clip of
    a recording goes where its first frozen clip went, or all together to one split. Per label, a new unit
    goes to the split that lags its target share most (train takes the rest); a label with three units or
    more gets one in each split before the shares apply, so every genre reaches validation and test.
    """
    out = dict(frozen or {})
    unit_of = dict(zip(clips["clip_id"], clips["recording"] if "recording" in clips else clips["clip_id"]))
    placed: dict[str, str] = {}
    for clip, unit in unit_of.items():
        if clip in out:
            placed.setdefault(unit, out[clip])
    targets = {"test": cfg.test, "validation": cfg.validation}
    for _, group in clips.groupby("label", sort=True):
        units = sorted({unit_of[c] for c in group["clip_id"]})
        counts = {s: sum(placed.get(u) == s for u in units) for s in SPLITS}
        for unit in sorted((u for u in units if u not in placed), key=lambda u: _order(u, cfg.seed)):
            empty = [s for s in SPLITS if counts[s] == 0]
            if len(units) >= 3 and empty:
                split = empty[0]
            else:
                total = sum(counts.values()) + 1
                lag = {s: targets[s] * total - counts[s] for s in targets}
                split = max(lag, key=lag.get)
                if lag[split] < 0.5:
                    split = "train"
            placed[unit] = split
            counts[split] += 1
    return {c: out.get(c, placed[unit_of[c]]) for c in clips["clip_id"]}


def load_frozen(path: Path) -> dict[str, str]:
    return json.loads(path.read_text()) if path.is_file() else {}


def freeze(path: Path, clips: pd.DataFrame, cfg: SplitConfig) -> dict[str, str]:
    """Assign splits, merging with and updating the frozen file at ``path``.

    Read, assign and write happen under an exclusive lock on ``path``, so runs that start together
    agree: the second sees the first's assignments and keeps them.
    """
    with locked(path):
        frozen = load_frozen(path)
        assignment = assign_splits(clips, cfg, frozen)
        write_json(path, {**frozen, **assignment})
    return assignment


def fingerprint(assignment: dict[str, str], split: str = "test") -> str:
    """Hash of the clip ids in one split: equal hashes mean the same test set."""
    ids = sorted(c for c, s in assignment.items() if s == split)
    return hashlib.sha256("\n".join(ids).encode()).hexdigest()[:12]
