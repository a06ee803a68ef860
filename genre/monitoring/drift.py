"""Drift and live quality: the champion's answers in the prediction log's window against its training reference.

The statistics are scipy's, not a drift library's: Evidently 0.7 (whose tests the issue asked for) does not import
under the pandas 3 this project is locked to (it imports ``pandas.core.dtypes.common.infer_dtype_from_object``,
which pandas 3 removed), and moving pandas back is not an option. The tests are the ones Evidently picks for samples
of this size: a two-sample Kolmogorov-Smirnov test per numeric feature (the clip's mean feature vector against the
training clips'), and a chi-square goodness-of-fit test of the predicted-genre counts against the genre shares the
model learnt from. A p-value below ``monitor.p_value`` (0.05) counts as drift; the data drifted when at least
``monitor.drift_share`` (0.5, Evidently's dataset-drift default) of the features did.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
from scipy.stats import chisquare, ks_2samp

from genre.config import MonitorConfig
from genre.metrics.scores import macro_roc_auc
from genre.serving import prediction_log, registry
from genre.serving.reference import Reference

NOT_ENOUGH = "not enough data"


@dataclass(frozen=True)
class FeatureDrift:
    """One feature's KS test: statistic, p-value, whether it drifted, and its mean in reference and current data."""

    name: str
    statistic: float
    p_value: float
    drifted: bool
    reference_mean: float
    current_mean: float


@dataclass
class Assessment:
    """What the monitor found in one window; ``alarms`` are the reasons to retrain (none: keep serving)."""

    model: str
    since: str
    until: str
    requests: int
    enough: bool
    message: str
    other_models: int = 0  # answers in the window by other models (left out)
    features: list[FeatureDrift] = field(default_factory=list)
    drift_share: float | None = None
    genres: dict[str, Any] = field(default_factory=dict)  # chi-square statistic, p_value, drifted, shares
    unusual_rate: float | None = None  # share of answers with unusual_features
    feedback: int = 0  # answers in the window with feedback
    live_accuracy: float | None = None
    live_roc_auc: float | None = None
    champion_accuracy: float | None = None  # on its test split, from the model's metadata
    alarms: list[str] = field(default_factory=list)
    current: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)), repr=False)  # clip-mean features

    @property
    def drifted(self) -> list[FeatureDrift]:
        return [f for f in self.features if f.drifted]

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out.pop("current")
        return out


def _genre_test(predicted: list[str], shares: dict[str, float], p_value: float) -> dict[str, Any]:
    labels = list(shares)
    counts = np.array([predicted.count(g) for g in labels], dtype=np.float64)
    expected = np.maximum(np.array([shares[g] for g in labels]), 1e-6)  # a genre never seen in training: drift
    expected = expected / expected.sum() * counts.sum()
    stat, p = chisquare(counts, expected)
    return {"statistic": float(stat), "p_value": float(p), "drifted": bool(p < p_value),
            "reference": shares, "current": {g: float(c / counts.sum()) for g, c in zip(labels, counts)}}


def _feature_tests(reference: Reference, current: np.ndarray, p_value: float) -> list[FeatureDrift]:
    out = []
    for j, name in enumerate(reference.names):
        ref, cur = reference.features[:, j].astype(np.float64), current[:, j]
        ref, cur = ref[np.isfinite(ref)], cur[np.isfinite(cur)]
        stat, p = ks_2samp(ref, cur)
        out.append(FeatureDrift(name, float(stat), float(p), bool(p < p_value), float(ref.mean()), float(cur.mean())))
    return out


def _live_quality(answers: list[dict[str, Any]], truth: dict[str, str],
                  labels: list[str]) -> tuple[float, float | None]:
    """Accuracy and macro one-vs-rest ROC-AUC (None with a single true genre) of the answers with feedback."""
    index = {g: k for k, g in enumerate(labels)}
    y = np.array([index[truth[a["id"]]] for a in answers])
    probs = np.array([[a["probabilities"].get(g, 0.0) for g in labels] for a in answers])
    accuracy = float(np.mean(probs.argmax(axis=1) == y))
    return accuracy, (macro_roc_auc(y, probs) if len(set(y.tolist())) > 1 else None)


def assess(records: list[dict[str, Any]], feedback: list[dict[str, Any]], reference: Reference, labels: list[str],
           model: str, champion_accuracy: float | None, cfg: MonitorConfig, since: str, until: str) -> Assessment:
    """Drift of model ``model``'s answers among ``records`` (the log's window) from ``reference``, their unusual-
    feature rate, live accuracy and ROC-AUC from ``feedback`` (the latest per request), and the alarms."""
    answers = [r for r in records if r.get("model") == model and len(r.get("features", ())) == len(reference.names)]
    result = Assessment(model, since, until, len(answers), len(answers) >= cfg.min_requests, "",
                        other_models=sum(r.get("model") != model for r in records),
                        champion_accuracy=champion_accuracy)
    if not result.enough:
        result.message = (f"{NOT_ENOUGH}: {len(answers)} answers by {model} in the window, fewer than "
                          f"monitor.min_requests = {cfg.min_requests}; nothing assessed, no retrain")
        return result
    result.current = np.array([a["features"] for a in answers], dtype=np.float64)
    result.features = _feature_tests(reference, result.current, cfg.p_value)
    result.drift_share = len(result.drifted) / len(result.features)
    result.genres = _genre_test([a["genre"] for a in answers], reference.genres, cfg.p_value)
    result.unusual_rate = float(np.mean([bool(a.get("unusual")) for a in answers]))
    truth = {f["id"]: f["genre"] for f in feedback if f["genre"] in labels}  # oldest first: the latest wins
    judged = [a for a in answers if a["id"] in truth]
    result.feedback = len(judged)
    if len(judged) >= cfg.min_feedback:
        result.live_accuracy, result.live_roc_auc = _live_quality(judged, truth, labels)
    if result.drift_share >= cfg.drift_share:
        result.alarms.append(f"{len(result.drifted)} of {len(result.features)} features drifted "
                             f"({result.drift_share:.0%} >= monitor.drift_share {cfg.drift_share:.0%})")
    if (result.live_accuracy is not None and champion_accuracy is not None
            and result.live_accuracy < champion_accuracy - cfg.accuracy_margin):
        result.alarms.append(f"live accuracy {result.live_accuracy:.3f} on {len(judged)} answers with feedback is "
                             f"below the champion's test accuracy {champion_accuracy:.3f} less "
                             f"monitor.accuracy_margin {cfg.accuracy_margin:g}")
    result.message = ("; ".join(result.alarms) if result.alarms else
                      f"no alarm: {len(result.drifted)} of {len(result.features)} features drifted "
                      f"({result.drift_share:.0%})")
    return result


def assess_home(home: str | Path, cfg: MonitorConfig, since: datetime, until: datetime
                ) -> tuple[Assessment, Reference | None]:
    """:func:`assess` of the champion of ``home`` (its reference and test accuracy from the model store) over the
    log's window ``[since, until)``, and its reference (None for a model saved before references were)."""
    record = registry.champion(home)
    if record is None:
        raise FileNotFoundError(f"no champion model in {home}: nothing is served, so nothing to monitor")
    registry.use_store(home)
    info = registry.model_info(record["tag"])
    reference = Reference.load(info["path"])
    window = (since.isoformat(timespec="seconds"), until.isoformat(timespec="seconds"))
    if reference is None:
        return Assessment(record["tag"], *window, 0, False, "the champion was saved without its training reference "
                          "(trained before the monitor existed): retrain it to monitor drift"), None
    accuracy = info["metadata"].get("metrics", {}).get("ensemble", {}).get("accuracy")
    return assess(prediction_log.read(home, "predictions", since, until), prediction_log.read(home, "feedback", since),
                  reference, list(reference.genres), record["tag"], accuracy, cfg, *window), reference
