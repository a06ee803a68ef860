"""The promotion gate: the floor, the champion re-scored on the same clips, ties, and the record it leaves."""

from __future__ import annotations

import json

import numpy as np

from genre.evaluation.gate import decide

Y = np.array([0, 0, 0, 0, 1, 1, 1, 1])


def _probs(class1_scores: list[float]) -> np.ndarray:
    s = np.array(class1_scores)
    return np.column_stack([1 - s, s])


PERFECT = _probs([.1, .2, .3, .4, .6, .7, .8, .9])  # ROC-AUC 1.0
ONE_SWAP = _probs([.1, .2, .3, .6, .4, .7, .8, .9])  # 15 of 16 pairs in order: 0.9375
TWO_SWAPS = _probs([.1, .2, .6, .7, .3, .4, .8, .9])  # 12 of 16: 0.75
INVERTED = _probs([.9, .8, .7, .6, .4, .3, .2, .1])  # 0.0


def _decide(candidate, champion=None, floor=0.75, min_improvement=0.0, note=""):
    return decide("cand", Y, candidate, floor, min_improvement, "split1",
                  "champ:1" if champion is not None else None, champion, note, bootstrap=200)


def test_no_champion_promotes_above_the_floor_and_says_why() -> None:
    record = _decide(ONE_SWAP, note="the champion knows other genres")
    assert record.promote is True and record.candidate_roc_auc == 0.9375
    assert record.reasons == ["ROC-AUC 0.9375 clears the floor 0.7500",
                              "no comparable champion (the champion knows other genres)"]
    assert record.difference is None and record.difference_ci95 is None


def test_below_the_floor_never_promotes_and_the_floor_is_inclusive() -> None:
    low = _decide(INVERTED)
    assert low.promote is False and low.reasons[0] == "ROC-AUC 0.0000 is below the floor 0.7500"
    assert _decide(TWO_SWAPS).promote is True  # 0.75 on a floor of 0.75
    assert _decide(PERFECT, champion=TWO_SWAPS, floor=1.01).promote is False  # beats the champion, not the floor


def test_below_the_champion_or_tied_keeps_the_champion() -> None:
    worse = _decide(TWO_SWAPS, champion=ONE_SWAP)
    assert worse.promote is False and worse.champion_roc_auc == 0.9375
    assert "does not beat the champion champ:1's 0.9375" in worse.reason
    tie = _decide(ONE_SWAP, champion=ONE_SWAP)
    assert tie.promote is False and tie.difference == 0.0
    assert tie.difference_ci95 == (0.0, 0.0)  # the same predictions differ by nothing on every resample


def test_a_better_candidate_promotes_with_a_paired_interval_around_the_difference() -> None:
    record = _decide(PERFECT, champion=TWO_SWAPS)
    assert record.promote is True and record.difference == 0.25
    low, high = record.difference_ci95
    assert low <= 0.25 <= high and low >= 0.0  # the candidate never ranks worse on these clips
    assert _decide(ONE_SWAP, champion=TWO_SWAPS, min_improvement=0.2).promote is False  # +0.1875 < +0.2 required
    saved = json.loads(json.dumps(record.to_dict()))
    assert saved["verdict"] == "promote" and saved["champion"] == "champ:1" and saved["n_clips"] == 8
    assert {r["item"] for r in record.rows()} >= {"verdict", "floor (gate.min_roc_auc)", "candidate - champion"}
