"""Classical models on segment features: SVM, logistic regression, random forest, XGBoost.

Each is a scikit-learn Pipeline whose scaler is fit on training folds only. A randomised search per model scores
every candidate on StratifiedGroupKFold folds grouped by clip (or artist): it trains on segments, predicts a clip
as the mean of its segment probabilities and scores the clip-level macro one-vs-rest ROC-AUC. Class imbalance is
handled on training rows only (balanced sample weights by default, or random over/under-sampling), and the SVM's
probability calibration uses inner folds grouped the same way, so no clip is ever on both sides of any fold.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from joblib import Parallel, delayed, parallel_config
from scipy.stats import loguniform, randint, uniform
from sklearn.base import clone
from sklearn.calibration import CalibratedClassifierCV
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import ParameterSampler, StratifiedGroupKFold
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC
from sklearn.utils.class_weight import compute_sample_weight
from tqdm.auto import tqdm

from genre.config import ClassicalConfig
from genre.metrics.scores import clip_truth, macro_roc_auc

MODELS = ("svm", "logreg", "random_forest", "xgboost")

Folds = list[tuple[np.ndarray, np.ndarray]]


def make_model(name: str, seed: int) -> tuple[Pipeline, dict[str, Any]]:
    """An untrained pipeline (scaler + classifier) and its search space, keyed by pipeline parameter."""
    if name == "svm":
        # cv is replaced by folds grouped by clip in fit_pipeline; scikit-learn 1.9 deprecates probability=True
        est = CalibratedClassifierCV(SVC(kernel="rbf", random_state=seed), ensemble=False)
        space = {"clf__estimator__C": loguniform(1e-1, 1e2), "clf__estimator__gamma": loguniform(1e-3, 1e-1)}
    elif name == "logreg":
        est = LogisticRegression(max_iter=5000, random_state=seed)
        space = {"clf__C": loguniform(1e-3, 1e1)}
    elif name == "random_forest":
        est = RandomForestClassifier(random_state=seed, n_jobs=1)
        space = {"clf__n_estimators": randint(150, 500), "clf__max_features": ["sqrt", "log2", 0.25],
                 "clf__max_depth": [None, 12, 24], "clf__min_samples_leaf": randint(1, 4)}
    elif name == "xgboost":
        from xgboost import XGBClassifier

        est = XGBClassifier(tree_method="hist", random_state=seed, n_jobs=1, eval_metric="mlogloss")
        space = {"clf__n_estimators": randint(100, 400), "clf__max_depth": randint(2, 7),
                 "clf__learning_rate": loguniform(0.02, 0.3), "clf__subsample": uniform(0.6, 0.4),
                 "clf__colsample_bytree": uniform(0.3, 0.6), "clf__min_child_weight": loguniform(0.5, 5)}
    else:
        raise ValueError(f"unknown model {name!r}; choose from {', '.join(MODELS)}")
    return Pipeline([("scale", StandardScaler()), ("clf", est)]), space


def grouped_folds(y: np.ndarray, groups: np.ndarray, n_splits: int, seed: int) -> Folds:
    """StratifiedGroupKFold (train, test) index pairs: a group (clip or artist) never sits on both sides.

    Uses fewer folds when the rarest class has fewer groups than ``n_splits``; needs two groups per class.
    """
    counts = {k: len(np.unique(groups[y == k])) for k in np.unique(y)}
    rarest = min(counts, key=counts.get)
    if counts[rarest] < 2:
        raise ValueError(f"class {rarest} has {counts[rarest]} clip(s) in training: grouped cross-validation "
                         "needs at least 2 clips (groups) per class; add clips or drop the class")
    k = min(n_splits, counts[rarest])
    return list(StratifiedGroupKFold(n_splits=k, shuffle=True, random_state=seed).split(np.zeros(len(y)), y, groups))


def training_rows(y: np.ndarray, imbalance: str, seed: int) -> np.ndarray:
    """Row indices to train on: all rows, or every class randomly over- or under-sampled to the same count."""
    if imbalance not in ("oversample", "undersample"):
        return np.arange(len(y))
    rng = np.random.default_rng(seed)
    classes, counts = np.unique(y, return_counts=True)
    target = counts.max() if imbalance == "oversample" else counts.min()
    rows = []
    for k, n in zip(classes, counts):
        idx = np.flatnonzero(y == k)
        if imbalance == "oversample":
            rows.append(np.concatenate([idx, rng.choice(idx, target - n, replace=True)]))
        else:
            rows.append(rng.choice(idx, target, replace=False))
    return np.sort(np.concatenate(rows))


def fit_pipeline(model: Pipeline, X: np.ndarray, y: np.ndarray, groups: np.ndarray, cfg: ClassicalConfig,
                 seed: int) -> Pipeline:
    """Fit ``model`` on training rows only: resampled or weighted per ``cfg.imbalance``, with an SVM calibrated
    on inner folds grouped by ``groups``."""
    rows = training_rows(y, cfg.imbalance, seed)
    X, y, groups = X[rows], y[rows], groups[rows]
    params = {}
    if cfg.imbalance == "balanced":
        params["clf__sample_weight"] = compute_sample_weight("balanced", y)
    if isinstance(model.named_steps["clf"], CalibratedClassifierCV):
        try:
            model.set_params(clf__cv=grouped_folds(y, groups, cfg.calibration_folds, seed))
        except ValueError as exc:
            raise ValueError(f"SVM probability calibration: {exc}") from exc
    return model.fit(X, y, **params)


@contextmanager
def search_backend(address: str | None) -> Iterator[int | None]:
    """Where the searches' fits run: on the Dask cluster at ``address`` through joblib's Dask backend, or (no
    address) in local processes. Yields the ``n_jobs`` to use there (-1: every worker thread of the cluster) or None
    (keep the local count). The cluster's workers must be able to import ``genre``."""
    if not address:
        yield None
        return
    from distributed import Client

    with Client(address, timeout=30, set_as_default=False) as client, \
            parallel_config(backend="dask", client=client, wait_for_workers_timeout=60):
        yield -1


def predict_proba(model: Any, X: np.ndarray, n_classes: int) -> np.ndarray:
    """(n, n_classes) probabilities, with zero columns for classes the model never saw in training."""
    p = model.predict_proba(X)
    if p.shape[1] == n_classes:
        return p
    out = np.zeros((len(X), n_classes))
    out[:, np.asarray(model.classes_, dtype=np.int64)] = p
    return out


def _fold_predict(model: Pipeline, X: np.ndarray, y: np.ndarray, clips: np.ndarray, groups: np.ndarray,
                  fold: tuple[np.ndarray, np.ndarray], cfg: ClassicalConfig, seed: int, n_classes: int) -> OutOfFold:
    train, test = fold
    fitted = fit_pipeline(model, X[train], y[train], groups[train], cfg, seed)
    y_clip, probs = clip_truth(predict_proba(fitted, X[test], n_classes), y[test], clips[test])
    return OutOfFold(pd.unique(clips[test]), probs, macro_roc_auc(y_clip, probs))


@dataclass
class OutOfFold:
    """Clip probabilities of one fold's held-out clips from a model fitted on the other folds, and their ROC-AUC."""

    clips: np.ndarray
    probs: np.ndarray
    roc_auc: float


@dataclass
class Fitted:
    """A tuned model refit on all training rows, with its clip-level cross-validated ROC-AUC."""

    name: str
    model: Pipeline
    cv_roc_auc: float
    params: dict[str, Any]
    fit_seconds: float
    cv_std: float = 0.0
    candidates: list[tuple[dict[str, Any], float]] = field(default_factory=list)
    oof: list[OutOfFold] = field(default_factory=list)  # the chosen candidate's folds: held-apart predictions

    def out_of_fold(self) -> tuple[np.ndarray, np.ndarray]:
        """(clip ids, clip probabilities) of every training clip, each from the fold model that never saw it."""
        return np.concatenate([f.clips for f in self.oof]), np.vstack([f.probs for f in self.oof])


def fit_model(name: str, X: np.ndarray, y: np.ndarray, clips: np.ndarray, cfg: ClassicalConfig,
              groups: np.ndarray | None = None, n_jobs: int = 1, progress: bool = True) -> Fitted:
    """Randomised search for ``name`` scored by clip-level ROC-AUC on folds grouped by ``groups`` (default: clips),
    then a refit on all rows with the best candidate.

    ``y`` holds integer labels 0..K-1. The first candidate is the model's defaults, so the search never does worse
    than them on these folds; ``cfg.search_iterations`` candidates in all.
    """
    start = time.perf_counter()
    groups = clips if groups is None else groups
    n_classes = int(y.max()) + 1
    model, space = make_model(name, cfg.seed)
    folds = grouped_folds(y, groups, cfg.cv_folds, cfg.seed)
    drawn = list(ParameterSampler(space, n_iter=max(cfg.search_iterations - 1, 0), random_state=cfg.seed))
    candidates = [{}] + [{k: v.item() if isinstance(v, np.generic) else v for k, v in c.items()} for c in drawn]
    jobs = [(c, f) for c in range(len(candidates)) for f in range(len(folds))]
    run = Parallel(n_jobs=n_jobs, return_as="generator")(
        delayed(_fold_predict)(clone(model).set_params(**candidates[c]), X, y, clips, groups, folds[f], cfg,
                             cfg.seed + f, n_classes)
        for c, f in jobs
    )
    outs = list(tqdm(run, total=len(jobs), desc=f"search {name}", unit="fit", disable=not progress))
    scores = np.array([o.roc_auc for o in outs]).reshape(len(candidates), len(folds))
    means = scores.mean(axis=1)
    best = int(np.argmax(means))  # ties go to the earlier candidate, the defaults first
    final = fit_pipeline(clone(model).set_params(**candidates[best]), X, y, groups, cfg, cfg.seed)
    return Fitted(name, final, float(means[best]), candidates[best], time.perf_counter() - start,
                  cv_std=float(scores[best].std()), candidates=list(zip(candidates, means.round(6).tolist())),
                  oof=outs[best * len(folds): (best + 1) * len(folds)])
