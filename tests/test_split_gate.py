"""Frozen clip-level splits and the promotion gate."""

from __future__ import annotations

import pandas as pd

from genre.config import SplitConfig
from genre.evaluation.gate import decide
from genre.models.split import assign_splits, fingerprint, freeze


def _clips(n_per_label: int, labels=("a", "b", "c")) -> pd.DataFrame:
    return pd.DataFrame([{"clip_id": f"{lab}{i:03d}", "label": lab} for lab in labels for i in range(n_per_label)])


def test_every_label_in_every_split_at_target_shares() -> None:
    clips = _clips(20)
    split = assign_splits(clips, SplitConfig(validation=0.2, test=0.2))
    frame = clips.assign(split=clips["clip_id"].map(split))
    counts = frame.groupby(["label", "split"]).size().unstack()
    assert (counts["test"] == 4).all() and (counts["validation"] == 4).all() and (counts["train"] == 12).all()


def test_split_is_frozen_when_clips_are_added(tmp_path) -> None:
    path = tmp_path / "splits.json"
    first = freeze(path, _clips(10), SplitConfig())
    second = freeze(path, _clips(15), SplitConfig())
    assert all(second[c] == s for c, s in first.items())
    assert fingerprint(first) != fingerprint(second)  # new clips joined the test split too
    assert freeze(path, _clips(15), SplitConfig()) == second


def test_gate_floor_champion_and_ties() -> None:
    assert not decide(0.70, 0.75, None).promote
    assert decide(0.80, 0.75, None).promote
    assert decide(0.90, 0.75, 0.85).promote
    tie = decide(0.85, 0.75, 0.85)
    assert not tie.promote and "does not beat" in tie.reason
    assert not decide(0.86, 0.75, 0.85, min_improvement=0.02).promote
