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


def test_the_record_says_what_was_compared_and_why_in_its_table() -> None:
    record = _decide(PERFECT, champion=TWO_SWAPS)
    assert record.reasons == ["ROC-AUC 1.0000 clears the floor 0.7500",
                              "beats the champion champ:1's 0.7500 on the same test clips"]
    assert record.rows() == [
        {"item": "verdict", "value": "promote"},
        {"item": "reasons", "value": record.reason},
        {"item": "candidate", "value": "cand"},
        {"item": "candidate ROC-AUC", "value": 1.0},
        {"item": "floor (gate.min_roc_auc)", "value": 0.75},
        {"item": "champion", "value": "champ:1"},
        {"item": "champion ROC-AUC on these clips", "value": 0.75},
        {"item": "required improvement (gate.min_improvement)", "value": 0.0},
        {"item": "candidate - champion", "value": 0.25},
        {"item": "95% interval of the difference (paired bootstrap)", "value": "[+0.0000, +0.7500]"},
        {"item": "test clips", "value": 8},
        {"item": "test split", "value": "split1"},
        {"item": "decided at", "value": record.decided_at}]
    saved = record.to_dict()
    assert (saved["candidate"], saved["floor"], saved["min_improvement"], saved["test_split"]) == (
        "cand", 0.75, 0.0, "split1")
    # no champion: its cells are empty, and no note means no parentheses
    alone = {r["item"]: r["value"] for r in _decide(ONE_SWAP).rows()}
    assert alone["champion"] == "none" and alone["reasons"].endswith("; no comparable champion")
    assert all(alone[k] == "" for k in ("champion ROC-AUC on these clips", "candidate - champion",
                                        "95% interval of the difference (paired bootstrap)"))


def test_values_are_rounded_to_four_decimals_and_the_interval_follows_the_seed() -> None:
    y = np.array([0, 0, 0, 1, 1, 1])
    candidate, champion = _probs([.1, .2, .5, .4, .7, .8]), _probs([.1, .5, .6, .2, .3, .8])  # 8/9 and 5/9

    def run(seed: int):
        return decide("cand", y, candidate, 0.5, 0.01, "s", "champ:1", champion, "", bootstrap=200, seed=seed)

    rows = {r["item"]: r["value"] for r in run(0).rows()}
    assert rows["candidate ROC-AUC"] == 0.8889 and rows["champion ROC-AUC on these clips"] == 0.5556
    assert rows["candidate - champion"] == 0.3333
    assert run(0).difference_ci95 == run(0).difference_ci95  # reproducible for a seed
    assert {run(s).difference_ci95 for s in range(5)} != {run(0).difference_ci95}  # and the seed is used
    worse = decide("cand", y, champion, 0.0, 0.0, "s", "champ:1", candidate, "", bootstrap=50, seed=0)
    assert worse.reasons[1] == "does not beat the champion champ:1's 0.8889 on the same test clips (+0.0000 needed)"
