"""Ensembles of members' probabilities, and the choice among them made on held-apart predictions only.

A candidate is one member alone, the plain average (the reference project's method), a weighted average, or
stacking (a regularised logistic regression on the members' log-probabilities). Candidates are scored on clips
that no member was fitted on: out-of-fold predictions of the classical models and validation predictions of
VGG16. Weights and stackers are themselves cross-fitted over those clips, so their score never includes the
clips they were tuned on. Ties go to the simpler candidate: an ensemble is chosen only when it beats its best
member. The test split is never seen here.

A member with predictions on fewer held-apart clips (VGG16: the validation clips only) joins in a second stage
(:func:`choose_with_late`): the first choice, made on every held-apart clip without it, stays unless a candidate
with the late member beats it clearly (paired bootstrap) on the clips they share, so a few clips never outvote many.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold

from genre.metrics.scores import bootstrap_difference, macro_roc_auc

METHODS = ("member", "average", "weighted", "stacking")  # simplest first: a tie goes to the earlier
_EPS = 1e-6


def candidate_name(method: str, members: list[str]) -> str:
    """``logreg`` for a member alone, ``average(logreg+vgg16)`` for an ensemble."""
    return members[0] if method == "member" else f"{method}({'+'.join(members)})"


@dataclass
class Combiner:
    """How member probabilities become the ensemble's: ``weights`` per member, or a ``stacker``."""

    method: str
    members: list[str]
    weights: list[float] = field(default_factory=list)
    stacker: Any = None
    n_classes: int = 0

    @property
    def name(self) -> str:
        return candidate_name(self.method, self.members)

    def describe(self) -> str:
        if self.method == "member":
            return f"{self.members[0]} alone"
        if self.method == "stacking":
            return f"logistic regression stacked on {', '.join(self.members)}"
        return ", ".join(f"{m} x {w:.2f}" for m, w in zip(self.members, self.weights)) + f" ({self.method})"

    def combine(self, probs: dict[str, np.ndarray]) -> np.ndarray:
        """(n, K) ensemble probabilities from each member's (n, K) probabilities (rows: segments or clips)."""
        if self.stacker is not None:
            out = np.zeros((len(probs[self.members[0]]), self.n_classes))
            out[:, self.stacker.classes_] = self.stacker.predict_proba(_stack(probs, self.members))
            return out
        return sum(w * probs[m] for m, w in zip(self.members, self.weights))


def _stack(probs: dict[str, np.ndarray], members: list[str]) -> np.ndarray:
    return np.hstack([np.log(np.clip(probs[m], _EPS, 1.0)) for m in members])


def _simplex(n: int, step: float = 0.25) -> list[tuple[float, ...]]:
    """Weights of ``n`` members on a grid of ``step`` (finer when ``n`` members need it), every weight > 0."""
    ticks = max(int(round(1 / step)), n + 1)  # a 0.25 grid has no point with 5 or more members all > 0
    return [tuple(float(p) / ticks for p in np.diff((0, *cuts, ticks)))
            for cuts in itertools.combinations(range(1, ticks), n - 1)]


def _log_loss(y: np.ndarray, probs: np.ndarray) -> float:
    return float(-np.log(np.clip(probs[np.arange(len(y)), y], 1e-12, 1.0)).mean())


def fit(method: str, members: list[str], probs: dict[str, np.ndarray], y: np.ndarray, n_classes: int,
        seed: int = 0) -> Combiner:
    """A combiner of ``method`` fitted on clip probabilities ``probs`` with labels ``y``.

    Weighted: the weights on a 0.25 grid (finer from 4 members; every member > 0) with the best macro ROC-AUC, ties to the lower log-loss.
    """
    if method == "member":
        return Combiner(method, members[:1], [1.0], n_classes=n_classes)
    if method == "average":
        return Combiner(method, members, [1.0 / len(members)] * len(members), n_classes=n_classes)
    if method == "weighted":
        def key(weights: tuple[float, ...]) -> tuple[float, float]:
            blend = sum(w * probs[m] for m, w in zip(members, weights))
            return round(macro_roc_auc(y, blend), 9), -_log_loss(y, blend)

        return Combiner(method, members, list(max(_simplex(len(members)), key=key)), n_classes=n_classes)
    if method == "stacking":
        stacker = LogisticRegression(C=0.1, max_iter=2000, random_state=seed).fit(_stack(probs, members), y)
        return Combiner(method, members, stacker=stacker, n_classes=n_classes)
    raise ValueError(f"unknown ensemble method {method!r}; choose from {', '.join(METHODS)}")


def cross_fitted(method: str, members: list[str], probs: dict[str, np.ndarray], y: np.ndarray, n_classes: int,
                 folds: int = 5, seed: int = 0) -> np.ndarray:
    """Probabilities of ``method`` on every clip from combiners fitted on the other folds (none for a member or
    the average, which learn nothing); a ValueError when a genre has too few clips to cross-fit."""
    if method in ("member", "average"):
        return fit(method, members, probs, y, n_classes, seed).combine(probs)
    smallest = int(np.bincount(y)[np.unique(y)].min())
    k = min(folds, smallest)
    if k < 2:
        raise ValueError(f"a genre has {smallest} held-apart clip(s): {method} needs 2 or more to be cross-fitted")
    out = np.zeros((len(y), n_classes))
    for train, test in StratifiedKFold(k, shuffle=True, random_state=seed).split(np.zeros(len(y)), y):
        part = fit(method, members, {m: p[train] for m, p in probs.items()}, y[train], n_classes, seed)
        out[test] = part.combine({m: p[test] for m, p in probs.items()})
    return out


@dataclass
class Candidate:
    """One ensemble candidate scored on the held-apart clips."""

    method: str
    members: list[str]
    roc_auc: float
    log_loss: float
    skipped: str = ""
    clips: int = 0  # held-apart clips it was scored on
    blended: np.ndarray | None = field(default=None, repr=False)  # its cross-fitted probabilities on them

    @property
    def name(self) -> str:
        return candidate_name(self.method, self.members)

    def key(self) -> tuple[float, int, float]:
        """Higher is better: ROC-AUC, then simplicity, then log-loss."""
        return round(self.roc_auc, 6), -METHODS.index(self.method), -self.log_loss

    def row(self, chosen: bool) -> dict[str, object]:
        return {"candidate": self.name, "method": self.method, "held_apart_clips": self.clips,
                "held_apart_roc_auc": round(self.roc_auc, 4),
                "held_apart_log_loss": round(self.log_loss, 4), "chosen": "yes" if chosen else "",
                "note": self.skipped}


def member_sets(members: list[str], best_classical: str | None, network: str | None,
                pretrained: str | None = None) -> list[list[str]]:
    """The member sets to combine: all members, and each pair of the best classical model, the network and the
    pretrained member that exist (a pair only when it is not already all the members)."""
    sets = [members] if len(members) > 1 else []
    chosen = [m for m in (best_classical, network, pretrained) if m]
    for pair in itertools.combinations(chosen, 2):
        if len(members) > 2:
            sets.append(list(pair))
    return sets


@dataclass
class Selection:
    """Every candidate's held-apart score, the chosen combiner (refitted on all held-apart clips) and the clips."""

    candidates: list[Candidate]
    chosen: Combiner
    n_clips: int
    probs: dict[str, np.ndarray] = field(default_factory=dict, repr=False)  # the held-apart clip probabilities
    y: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64), repr=False)
    seed: int = 0
    late: str | None = None  # the member of the second stage, scored on the clips of ``late_probs`` only
    late_probs: dict[str, np.ndarray] = field(default_factory=dict, repr=False)
    late_y: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64), repr=False)

    def combiner(self, candidate: Candidate) -> Combiner:
        """``candidate``'s combiner fitted on all its held-apart clips (what it would be if chosen)."""
        probs, y = (self.late_probs, self.late_y) if self.late in candidate.members else (self.probs, self.y)
        return fit(candidate.method, candidate.members, probs, y, self.chosen.n_classes, self.seed)

    def rows(self) -> list[dict[str, object]]:
        return [c.row(c.name == self.chosen.name) for c in self.candidates]

    def basis(self) -> str:
        """How the choice was made, in words."""
        text = (f"chosen on {self.n_clips} held-apart clips (out-of-fold and validation predictions; never the test "
                "split)")
        if self.late:
            text += (f"; {self.late} has validation predictions only, so the candidates with it were weighed in a "
                     f"second stage on those {len(self.late_y)} clips and had to beat the first choice there clearly "
                     "(paired bootstrap 95% interval of the ROC-AUC gain above 0)")
        return text


def choose(probs: dict[str, np.ndarray], y: np.ndarray, n_classes: int, sets: list[list[str]],
           methods: tuple[str, ...] = METHODS, folds: int = 5, seed: int = 0) -> Selection:
    """Score each member and each method over each member set on held-apart clip probabilities ``probs``
    (member -> (n_clips, K), all on the same clips, labels ``y``) and pick the best; ties to the simpler."""
    specs = [("member", [m]) for m in probs] + [(m, s) for s in sets for m in methods if m != "member"]
    candidates = _scored(specs, probs, y, n_classes, folds, seed)
    scored = [c for c in candidates if not c.skipped]
    if not scored:
        raise ValueError("no candidate could be scored on the held-apart clips: "
                         + "; ".join(f"{c.name}: {c.skipped}" for c in candidates))
    best = max(scored, key=Candidate.key)
    return Selection(candidates, fit(best.method, best.members, probs, y, n_classes, seed), len(y), probs, y, seed)


def _scored(specs: list[tuple[str, list[str]]], probs: dict[str, np.ndarray], y: np.ndarray, n_classes: int,
            folds: int, seed: int) -> list[Candidate]:
    candidates = []
    for method, members in specs:
        try:
            blended = cross_fitted(method, members, probs, y, n_classes, folds, seed)
            candidates.append(Candidate(method, members, macro_roc_auc(y, blended), _log_loss(y, blended),
                                        clips=len(y), blended=blended))
        except ValueError as exc:
            candidates.append(Candidate(method, members, float("nan"), float("nan"), str(exc), clips=len(y)))
    return candidates


def _clearly_better(y: np.ndarray, probs: np.ndarray, than: np.ndarray) -> bool:
    """Whether the paired bootstrap 95% interval of ROC-AUC(probs) - ROC-AUC(than) on these clips is above 0."""
    try:
        return bootstrap_difference(y, probs, than, n=1000)[0] > 0
    except ValueError:  # no resample held two genres: too few clips to tell
        return False


def choose_with_late(first: Selection, late: str, probs: dict[str, np.ndarray], y: np.ndarray, rows: np.ndarray,
                     sets: list[list[str]], methods: tuple[str, ...] = METHODS, folds: int = 5) -> Selection:
    """Second stage: ``late`` alone and each method over each of ``sets`` that holds it, scored on the clips of
    ``probs`` (every member, labels ``y``; they are ``first``'s held-apart clips at ``rows``). The best of them
    replaces ``first``'s choice only when it beats it there clearly: the paired bootstrap 95% interval of its
    ROC-AUC minus the first choice's (scored by its own cross-fitted probabilities on the same clips) lies above 0."""
    specs = [("member", [late])] + [(m, s) for s in sets if late in s for m in methods if m != "member"]
    candidates = _scored(specs, probs, y, first.chosen.n_classes, folds, first.seed)
    scored = [c for c in candidates if not c.skipped]
    kept = next(c for c in first.candidates if c.name == first.chosen.name)
    bar = macro_roc_auc(y, kept.blended[rows])
    best = max(scored, key=Candidate.key) if scored else None
    chosen, n_clips = first.chosen, first.n_clips
    if best is not None and round(best.roc_auc, 6) > round(bar, 6) and _clearly_better(y, best.blended,
                                                                                       kept.blended[rows]):
        chosen, n_clips = fit(best.method, best.members, probs, y, first.chosen.n_classes, first.seed), len(y)
    return Selection(first.candidates + candidates, chosen, n_clips, first.probs, first.y, first.seed, late, probs, y)
