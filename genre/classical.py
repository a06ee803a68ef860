"""Classical models on segment features: SVM, logistic regression, random forest, XGBoost.

Each is a scikit-learn Pipeline (scaler fit on training folds only), tuned by a
randomised search over StratifiedGroupKFold folds grouped by clip and scored by
macro one-vs-rest ROC-AUC.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.stats import loguniform, randint, uniform
from sklearn.base import BaseEstimator
from sklearn.calibration import CalibratedClassifierCV
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import RandomizedSearchCV, StratifiedGroupKFold
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC
from sklearn.ensemble import RandomForestClassifier

from genre.config import ClassicalConfig

MODELS = ("svm", "logreg", "random_forest", "xgboost")


def make_model(name: str, seed: int, n_jobs: int = 1) -> tuple[BaseEstimator, dict[str, Any]]:
    """An untrained pipeline and its search space."""
    if name == "svm":
        svc = SVC(kernel="rbf", class_weight="balanced", random_state=seed)
        est = CalibratedClassifierCV(svc, ensemble=False, cv=3)
        space = {"clf__estimator__C": loguniform(1e-1, 1e2), "clf__estimator__gamma": loguniform(1e-4, 1e-1)}
    elif name == "logreg":
        est = LogisticRegression(class_weight="balanced", max_iter=3000, random_state=seed)
        space = {"clf__C": loguniform(1e-3, 1e1)}
    elif name == "random_forest":
        est = RandomForestClassifier(class_weight="balanced", random_state=seed, n_jobs=n_jobs)
        space = {"clf__n_estimators": randint(100, 400), "clf__max_depth": [None, 8, 16],
                 "clf__min_samples_leaf": randint(1, 5)}
    elif name == "xgboost":
        from xgboost import XGBClassifier

        est = XGBClassifier(tree_method="hist", random_state=seed, n_jobs=n_jobs, eval_metric="mlogloss")
        space = {"clf__n_estimators": randint(100, 400), "clf__max_depth": randint(2, 7),
                 "clf__learning_rate": loguniform(0.02, 0.3), "clf__subsample": uniform(0.6, 0.4),
                 "clf__colsample_bytree": uniform(0.4, 0.6)}
    else:
        raise ValueError(f"unknown model {name!r}; choose from {', '.join(MODELS)}")
    return Pipeline([("scale", StandardScaler()), ("clf", est)]), space


@dataclass
class Fitted:
    """A tuned model with its cross-validated score and fit time."""

    name: str
    model: BaseEstimator
    cv_roc_auc: float
    params: dict[str, Any]
    fit_seconds: float


def fit_model(
    name: str, X: np.ndarray, y: np.ndarray, groups: np.ndarray, cfg: ClassicalConfig, n_jobs: int = 1
) -> Fitted:
    """Tune ``name`` on (X, y) with folds grouped by ``groups`` and refit on all of it."""
    start = time.perf_counter()
    model, space = make_model(name, cfg.seed, n_jobs=1)
    n_groups_per_class = min(len(set(groups[y == k])) for k in np.unique(y))
    folds = max(2, min(cfg.cv_folds, n_groups_per_class))
    search = RandomizedSearchCV(
        model, space, n_iter=cfg.search_iterations, scoring="roc_auc_ovr",
        cv=StratifiedGroupKFold(n_splits=folds, shuffle=True, random_state=cfg.seed),
        n_jobs=n_jobs, random_state=cfg.seed, refit=True, error_score="raise",
    )
    search.fit(X, y, groups=groups)
    return Fitted(name, search.best_estimator_, float(search.best_score_),
                  dict(search.best_params_), time.perf_counter() - start)
