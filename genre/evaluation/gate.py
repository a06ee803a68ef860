"""The promotion gate: clear the floor and beat the champion re-scored on the same test clips.

The decision is a record: what was compared, the values, the thresholds, the verdict with its reasons, and the
paired bootstrap 95% interval of candidate minus champion on those clips. It is saved with the run and the model.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np

from genre.metrics.scores import bootstrap_difference, macro_roc_auc


@dataclass
class GateRecord:
    """One gate decision and everything it was made from."""

    promote: bool
    reasons: list[str]
    candidate: str
    candidate_roc_auc: float
    floor: float
    min_improvement: float
    n_clips: int
    test_split: str
    champion: str | None = None
    champion_roc_auc: float | None = None
    difference: float | None = None
    difference_ci95: tuple[float, float] | None = None
    decided_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))

    @property
    def verdict(self) -> str:
        return "promote" if self.promote else "keep the champion"

    @property
    def reason(self) -> str:
        return "; ".join(self.reasons)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "verdict": self.verdict}

    def rows(self) -> list[dict[str, object]]:
        """The record as (item, value) rows for tables."""
        ci = self.difference_ci95
        values = {"verdict": self.verdict, "reasons": self.reason, "candidate": self.candidate,
                  "candidate ROC-AUC": round(self.candidate_roc_auc, 4), "floor (gate.min_roc_auc)": self.floor,
                  "champion": self.champion or "none", "champion ROC-AUC on these clips":
                      None if self.champion_roc_auc is None else round(self.champion_roc_auc, 4),
                  "required improvement (gate.min_improvement)": self.min_improvement,
                  "candidate - champion": None if self.difference is None else round(self.difference, 4),
                  "95% interval of the difference (paired bootstrap)":
                      None if ci is None else f"[{ci[0]:+.4f}, {ci[1]:+.4f}]",
                  "test clips": self.n_clips, "test split": self.test_split, "decided at": self.decided_at}
        return [{"item": k, "value": "" if v is None else v} for k, v in values.items()]


def decide(candidate: str, y: np.ndarray, candidate_probs: np.ndarray, floor: float, min_improvement: float,
           test_split: str, champion: str | None = None, champion_probs: np.ndarray | None = None,
           champion_note: str = "", bootstrap: int = 1000, seed: int = 0) -> GateRecord:
    """Promote only if the candidate's macro ROC-AUC on the test clips ``y`` clears ``floor`` and is above the
    champion's on the same clips by more than ``min_improvement`` (a tie keeps the champion), or there is no
    comparable champion (``champion_probs`` None; ``champion_note`` says why)."""
    auc = macro_roc_auc(y, candidate_probs)
    record = GateRecord(False, [], candidate, auc, floor, min_improvement, len(y), test_split, champion)
    if champion_probs is not None:
        record.champion_roc_auc = macro_roc_auc(y, champion_probs)
        record.difference = auc - record.champion_roc_auc
        record.difference_ci95 = bootstrap_difference(y, candidate_probs, champion_probs, bootstrap, seed)
    clears = auc >= floor
    record.reasons.append(f"ROC-AUC {auc:.4f} {'clears' if clears else 'is below'} the floor {floor:.4f}")
    if record.champion_roc_auc is None:
        note = f" ({champion_note})" if champion_note else ""
        record.reasons.append(f"no comparable champion{note}")
        record.promote = clears
    else:
        beats = auc > record.champion_roc_auc + min_improvement
        record.reasons.append(f"{'beats' if beats else 'does not beat'} the champion {champion}'s "
                              f"{record.champion_roc_auc:.4f} on the same test clips"
                              + ("" if beats else f" (+{min_improvement:.4f} needed)"))
        record.promote = clears and beats
    return record
