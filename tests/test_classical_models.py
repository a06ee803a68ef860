"""Classical models: grouped search without leakage (folds and SVM calibration), imbalance, reproducibility."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.calibration import CalibratedClassifierCV
from sklearn.model_selection import StratifiedKFold

from genre.config import ClassicalConfig, load_config
from genre.metrics.scores import bootstrap_roc_auc, macro_roc_auc, rank_macro_auc
from genre.models import classical
from genre.models.train import Split, cv_groups, train_classical


def segments(n_clips: int, per_clip: int, n_classes: int, seed: int, spread: float = 1.0,
             prefix: str = "c") -> Split:
    """Clips of ``per_clip`` segments: a class centre, a per-clip offset (so segments of a clip resemble each
    other more than clips of a class do) and segment noise. Clip i has class i % n_classes."""
    rng = np.random.default_rng(seed)
    centres = np.random.default_rng(1234).normal(0, 1.0, (n_classes, 6))
    y_clip = np.arange(n_clips) % n_classes
    y = np.repeat(y_clip, per_clip)
    offsets = np.repeat(rng.normal(0, spread, (n_clips, 6)), per_clip, axis=0)
    X = centres[y] + offsets + rng.normal(0, 0.7, (len(y), 6))
    clips = np.repeat([f"{prefix}{i:03d}" for i in range(n_clips)], per_clip)
    return Split(X=X, mels=np.zeros((len(y), 0)), y=y.astype(np.int64), clips=clips)


def small_config(tmp_path, **classical_cfg):
    return load_config(home=str(tmp_path / "home"), workers=2, **{
        "classical.search_iterations": 2, "classical.cv_folds": 3, "classical.bootstrap": 200,
        **{f"classical.{k}": v for k, v in classical_cfg.items()}})


def assert_grouped(folds, groups: np.ndarray) -> None:
    """Every group lies in exactly one test fold and never on both sides of a fold."""
    tested = np.concatenate([test for _, test in folds])
    assert np.array_equal(np.sort(tested), np.arange(len(groups))), "test folds must partition the rows"
    for train, test in folds:
        shared = set(groups[train]) & set(groups[test])
        assert not shared, f"groups on both sides of a fold: {sorted(shared)[:3]}"


def test_folds_keep_every_clip_in_one_fold():
    data = segments(24, 5, 3, seed=0)
    folds = classical.grouped_folds(data.y, data.clips, 4, seed=7)
    assert len(folds) == 4
    assert_grouped(folds, data.clips)
    # the control: plain stratified folds over segments do split clips, so the check above can fail
    plain = list(StratifiedKFold(4, shuffle=True, random_state=7).split(data.X, data.y))
    with pytest.raises(AssertionError, match="both sides"):
        assert_grouped(plain, data.clips)


def test_folds_group_by_artist_where_known():
    table = pd.DataFrame({"clip_id": ["a", "b", "c", "d"], "artist": ["x", "x", None, " "]})
    assert cv_groups(table) == {"a": "artist:x", "b": "artist:x", "c": "clip:c", "d": "clip:d"}
    assert cv_groups(table.drop(columns="artist"))["a"] == "clip:a"
    data = segments(24, 3, 3, seed=1)
    artists = np.array([f"artist{int(c[1:]) // 2}" for c in data.clips])  # two clips of one class per artist
    assert_grouped(classical.grouped_folds(data.y, artists, 3, seed=0), artists)


def test_svm_calibration_folds_are_grouped_by_clip():
    data = segments(18, 4, 3, seed=2)
    model, _ = classical.make_model("svm", seed=0)
    fitted = classical.fit_pipeline(model, data.X, data.y, data.clips, ClassicalConfig(), seed=0)
    calibration = fitted.named_steps["clf"]
    assert isinstance(calibration, CalibratedClassifierCV) and calibration.ensemble is False
    assert len(calibration.cv) == 3
    assert_grouped(calibration.cv, data.clips)
    assert fitted.predict_proba(data.X[:2]).shape == (2, 3)


def test_too_few_clips_per_class_is_a_clear_error():
    data = segments(7, 3, 3, seed=0)  # class 0 has clips 0, 3, 6; classes 1 and 2 have two each
    keep = ~np.isin(data.clips, ["c001"])  # class 1 left with one clip
    with pytest.raises(ValueError, match="class 1 has 1 clip"):
        classical.grouped_folds(data.y[keep], data.clips[keep], 3, seed=0)


def test_a_model_that_cannot_be_trained_is_skipped_with_its_reason(tmp_path):
    data = segments(14, 3, 3, seed=6)  # class 2 has clips 2, 5, 8, 11: keep two of them
    keep = ~np.isin(data.clips, ["c008", "c011"])
    train = Split(X=data.X[keep], mels=data.mels[keep], y=data.y[keep], clips=data.clips[keep])
    result = train_classical(train, None, small_config(tmp_path, models=("svm", "logreg"), cv_folds=2),
                             progress=False)
    assert list(result.fitted) == ["logreg"] and result.best == "logreg"
    assert "SVM probability calibration: class 2 has 1 clip(s)" in result.skipped["svm"]
    with pytest.raises(ValueError, match="no classical model could be trained: svm: SVM probability calibration"):
        train_classical(train, None, small_config(tmp_path, models=("svm",), cv_folds=2), progress=False)


@pytest.mark.parametrize("mode", ["oversample", "undersample"])
def test_resampling_balances_training_rows_only(mode):
    y = np.array([0] * 12 + [1] * 4 + [2] * 6)
    rows = classical.training_rows(y, mode, seed=3)
    counts = np.bincount(y[rows])
    assert len(set(counts)) == 1 and counts[0] == (12 if mode == "oversample" else 4)
    assert rows.min() >= 0 and rows.max() < len(y)
    assert np.array_equal(rows, classical.training_rows(y, mode, seed=3))
    assert np.array_equal(classical.training_rows(y, "balanced", seed=3), np.arange(len(y)))
    # through the search: each fold resamples its own training rows; calibration folds cover the resampled rows
    data = segments(30, 4, 3, seed=4)
    skew = ~np.isin(data.clips, [f"c{i:03d}" for i in range(2, 30, 3)][:6])  # drop 6 of class 2's 10 clips
    X, y2, clips = data.X[skew], data.y[skew], data.clips[skew]
    fitted = classical.fit_pipeline(classical.make_model("svm", 0)[0], X, y2, clips,
                                    ClassicalConfig(imbalance=mode), seed=0)
    resampled = classical.training_rows(y2, mode, seed=0)
    assert sum(len(t) for _, t in fitted.named_steps["clf"].cv) == len(resampled)
    assert_grouped(fitted.named_steps["clf"].cv, clips[resampled])


def test_chosen_model_beats_chance_on_known_structure(tmp_path):
    train, val, test = (segments(n, 4, 4, seed=s, prefix=p) for n, s, p in
                        ((32, 10, "tr"), (12, 11, "va"), (16, 12, "te")))
    cfg = small_config(tmp_path, models=("logreg", "svm"))
    result = train_classical(train, val, cfg, progress=False)
    assert set(result.fitted) == {"logreg", "svm"}
    assert result.validation[result.best].roc_auc == max(s.roc_auc for s in result.validation.values())
    best = result.fitted[result.best]
    assert 0.0 <= best.cv_roc_auc <= 1.0 and best.fit_seconds > 0
    scores = test.clip_scores(best.model.predict_proba(test.X))
    assert scores.roc_auc > 0.85, f"chance is 0.5; got {scores.roc_auc:.3f}"
    assert scores.accuracy > 0.5, f"chance is 0.25; got {scores.accuracy:.3f}"


def test_noise_labels_stay_near_chance(tmp_path):
    """The same search on labels unrelated to the features scores near 0.5: the CV score is not leaking."""
    data = segments(36, 4, 3, seed=5)
    shuffled = np.random.default_rng(0).permutation(3 * 12) % 3
    data.y = np.repeat(shuffled, 4)
    fitted = classical.fit_model("logreg", data.X, data.y, data.clips, ClassicalConfig(search_iterations=2),
                                 n_jobs=1, progress=False)
    assert fitted.cv_roc_auc < 0.75


def test_same_data_and_config_give_the_same_model_and_metrics(tmp_path):
    train, val = segments(24, 4, 3, seed=20, prefix="tr"), segments(9, 4, 3, seed=21, prefix="va")
    cfg = small_config(tmp_path, models=("svm", "xgboost"), search_iterations=3, imbalance="oversample")
    runs = [train_classical(train, val, cfg, progress=False) for _ in range(2)]
    assert runs[0].best == runs[1].best
    for name in ("svm", "xgboost"):
        a, b = runs[0].fitted[name], runs[1].fitted[name]
        assert a.params == b.params and a.cv_roc_auc == b.cv_roc_auc and a.candidates == b.candidates
        np.testing.assert_array_equal(a.model.predict_proba(val.X), b.model.predict_proba(val.X))
        assert runs[0].validation[name].row() == runs[1].validation[name].row()
    other = train_classical(train, val, small_config(tmp_path, models=("svm",), search_iterations=3, seed=7),
                            progress=False)
    assert other.fitted["svm"].params != runs[0].fitted["svm"].params, "the seed must matter"


def test_bootstrap_interval():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 4, 120)
    probs = rng.random((120, 4)).round(1) + np.eye(4)[y] * 0.3  # ties and some signal
    assert rank_macro_auc(y, probs) == pytest.approx(macro_roc_auc(y, probs), abs=1e-12)
    lo, hi = bootstrap_roc_auc(y, probs, n=300, seed=1)
    assert lo < macro_roc_auc(y, probs) < hi and hi - lo < 0.2
    assert (lo, hi) == bootstrap_roc_auc(y, probs, n=300, seed=1)
    assert bootstrap_roc_auc(y, np.eye(4)[y], n=100) == (1.0, 1.0)
