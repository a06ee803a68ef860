"""The promotion gate: clear the floor and beat the champion on the same test split."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Decision:
    promote: bool
    reason: str


def decide(candidate_auc: float, floor: float, champion_auc: float | None, min_improvement: float = 0.0,
           champion_note: str = "") -> Decision:
    """Promote only if ``candidate_auc`` >= floor and > champion_auc + min_improvement."""
    if candidate_auc < floor:
        return Decision(False, f"ROC-AUC {candidate_auc:.4f} is below the floor {floor:.4f}")
    if champion_auc is None:
        note = f" ({champion_note})" if champion_note else ""
        return Decision(True, f"ROC-AUC {candidate_auc:.4f} clears the floor {floor:.4f}; no comparable champion{note}")
    if candidate_auc > champion_auc + min_improvement:
        return Decision(True, f"ROC-AUC {candidate_auc:.4f} beats the champion's {champion_auc:.4f} on the same test split")
    return Decision(False, f"ROC-AUC {candidate_auc:.4f} does not beat the champion's {champion_auc:.4f} "
                           f"(+{min_improvement:.4f} needed) on the same test split")
