"""Ensemble candidates chosen on held-apart predictions: ties to the simpler, cross-fitted weights and stackers."""

from __future__ import annotations

import numpy as np

from genre.models import ensemble
from genre.models.ensemble import Combiner, choose, cross_fitted, member_sets

K = 4


def _member(y: np.ndarray, signal: np.ndarray, seed: int) -> np.ndarray:
    """Probabilities whose true class gets ``signal`` (per clip) over Gaussian noise."""
    logits = np.random.default_rng(seed).normal(size=(len(y), K))
    logits[np.arange(len(y)), y] += signal
    e = np.exp(logits)
    return e / e.sum(axis=1, keepdims=True)


def test_a_perfect_member_is_chosen_over_ensembles_that_only_tie_it() -> None:
    y = np.repeat(np.arange(K), 10)
    probs = {"a": _member(y, np.full(len(y), 20.0), 0), "b": _member(y, np.full(len(y), 0.5), 1)}
    selection = choose(probs, y, K, member_sets(list(probs), "a", None))
    scored = {c.name: c.roc_auc for c in selection.candidates}
    assert scored["a"] == 1.0 and scored["average(a+b)"] == 1.0  # the average ties the perfect member...
    assert selection.chosen.method == "member" and selection.chosen.name == "a"  # ...so the simpler one wins


def test_members_that_know_different_genres_are_combined() -> None:
    y = np.repeat(np.arange(K), 12)
    # "a" recognises genres 0 and 1 only, "b" genres 2 and 3 only: together they know all four
    probs = {"a": _member(y, np.where(y < 2, 4.0, 0.0), 2), "b": _member(y, np.where(y >= 2, 4.0, 0.0), 3)}
    selection = choose(probs, y, K, member_sets(list(probs), "a", None))
    best_member = max(c.roc_auc for c in selection.candidates if c.method == "member")
    chosen = next(c for c in selection.candidates if c.name == selection.chosen.name)
    assert selection.chosen.method != "member"
    assert chosen.roc_auc > best_member


def test_an_ensemble_is_never_chosen_without_beating_its_best_member() -> None:
    for seed in range(6):
        y = np.repeat(np.arange(K), 8)
        probs = {m: _member(y, np.full(len(y), 1.0), 10 * seed + i) for i, m in enumerate("abc")}
        selection = choose(probs, y, K, member_sets(list(probs), "a", "c"))
        best_member = max(c.roc_auc for c in selection.candidates if c.method == "member")
        chosen = next(c for c in selection.candidates if c.name == selection.chosen.name)
        assert chosen.method == "member" or round(chosen.roc_auc, 6) > round(best_member, 6)


def test_stacking_is_scored_on_clips_it_was_not_fitted_on() -> None:
    y = np.repeat(np.arange(K), 10)
    rng = np.random.default_rng(5)
    noise = {m: rng.dirichlet(np.ones(K), size=len(y)) for m in "abc"}  # no member knows anything
    from genre.metrics.scores import macro_roc_auc

    in_sample = ensemble.fit("stacking", list(noise), noise, y, K).combine(noise)
    held_apart = cross_fitted("stacking", list(noise), noise, y, K)
    assert macro_roc_auc(y, in_sample) > 0.7  # fitted and scored on the same clips, noise looks informative
    assert abs(macro_roc_auc(y, held_apart) - 0.5) < 0.12  # cross-fitted, it is what it is: chance


def test_too_few_clips_to_cross_fit_skips_the_method_with_a_reason() -> None:
    y = np.array([0, 0, 1, 1, 2, 3, 3])  # genre 2 has one held-apart clip
    probs = {"a": np.eye(K)[y] * 0.7 + 0.075, "b": np.full((len(y), K), 0.25)}
    selection = choose(probs, y, K, [["a", "b"]])
    notes = {c.name: c.skipped for c in selection.candidates}
    assert "1 held-apart clip(s): weighted needs 2" in notes["weighted(a+b)"]
    assert notes["average(a+b)"] == "" and selection.chosen.name == "a"


def test_a_stacker_predicts_every_genre_even_one_missing_from_its_clips() -> None:
    y = np.array([0, 0, 1, 1, 2, 2] * 3)  # genre 3 never appears
    probs = {"a": _member(y, np.full(len(y), 3.0), 7), "b": _member(y, np.full(len(y), 3.0), 8)}
    stacker = ensemble.fit("stacking", ["a", "b"], probs, y, K)
    out = stacker.combine(probs)
    assert out.shape == (len(y), K) and np.allclose(out.sum(axis=1), 1.0) and (out[:, 3] == 0).all()
    assert Combiner("average", ["a", "b"], [0.5, 0.5], n_classes=K).describe() == "a x 0.50, b x 0.50 (average)"


def test_every_method_scores_six_members() -> None:
    # a 0.25 grid has no weights with six members all above zero: the weighted candidate once scored NaN here
    y = np.repeat(np.arange(K), 10)
    probs = {f"m{i}": _member(y, np.full(len(y), 1.0 + i / 2), 10 + i) for i in range(6)}
    selection = choose(probs, y, K, member_sets(list(probs), "m5", None))
    weighted = next(c for c in selection.candidates if c.method == "weighted")
    assert np.isfinite(weighted.roc_auc) and not weighted.skipped
    assert all(np.isfinite(c.roc_auc) for c in selection.candidates)


def _late_setup(late_signal: float, n_late: int) -> tuple[ensemble.Selection, dict[str, np.ndarray], np.ndarray,
                                                          np.ndarray]:
    """60 + ``n_late`` held-apart clips for "a" and "b" (the last ``n_late`` are the validation clips), and "net" on
    the validation clips only."""
    y = np.tile(np.arange(K), (60 + n_late) // K)
    probs = {"a": _member(y, np.full(len(y), 2.0), 20), "b": _member(y, np.full(len(y), 0.3), 21)}
    first = choose(probs, y, K, member_sets(list(probs), "a", None))
    rows = np.arange(len(y) - n_late, len(y))
    late = {m: p[rows] for m, p in probs.items()} | {"net": _member(y[rows], np.full(n_late, late_signal), 22)}
    return first, late, y[rows], rows


def test_a_late_member_must_beat_the_first_choice_on_the_clips_it_has() -> None:
    first, late, y_late, rows = _late_setup(0.0, 12)  # "net" knows nothing
    selection = ensemble.choose_with_late(first, "net", late, y_late, rows, [["a", "b", "net"], ["a", "net"]])
    assert selection.chosen.name == first.chosen.name and selection.n_clips == 72
    clips = {c.name: c.clips for c in selection.candidates}
    assert clips["a"] == 72 and clips["net"] == 12 and clips["average(a+net)"] == 12
    assert "second stage on those 12 clips" in selection.basis()
    # the late candidates' combiners are fitted on the clips they were scored on
    assert selection.combiner(next(c for c in selection.candidates if c.name == "average(a+net)")).members == ["a", "net"]


def test_a_late_member_replaces_the_first_choice_only_when_clearly_better() -> None:
    from genre.metrics.scores import macro_roc_auc

    for n_late, replaced in ((8, False), (40, True)):  # perfect on 8 clips is not clear; on 40 it is
        first, late, y_late, rows = _late_setup(30.0, n_late)
        kept = next(c for c in first.candidates if c.name == first.chosen.name)
        assert macro_roc_auc(y_late, kept.blended[rows]) < 0.95  # the first choice is not perfect there
        assert macro_roc_auc(y_late, late["net"]) == 1.0
        selection = ensemble.choose_with_late(first, "net", late, y_late, rows, [["a", "net"]])
        assert (selection.chosen.name == "net") == replaced, n_late
