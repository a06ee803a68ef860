"""The features suite: schema, NaN/inf, ranges learnt on training rows and saved with the predictor."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

from genre.config import FeatureConfig, ValidationConfig, load_config
from genre.data.catalog import Catalog, clips
from genre.data.ingest import ingest_folder
from genre.data.store import BlobStore
from genre.features.dataset import extract_dataset
from genre.features.extractor import feature_names
from genre.models.ensemble import Combiner
from genre.serving.predictor import Predictor
from genre.validation.feature_profile import PROFILE_FILE, FeatureProfile
from genre.validation.runner import CRITICAL, WARNING, GXRun, ValidationError
from genre.validation.suites import validate_features

NAMES = feature_names(FeatureConfig())


@pytest.fixture(scope="module")
def gx_run() -> GXRun:
    return GXRun()


def segment_table(n_clips: int = 12, segments: int = 20, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = n_clips * segments
    table = pd.DataFrame(rng.uniform(size=(rows, len(NAMES))).astype(np.float32), columns=NAMES)
    table.insert(0, "label", np.repeat([f"g{i % 2}" for i in range(n_clips)], segments))
    table.insert(0, "segment", np.tile(np.arange(segments), n_clips))
    table.insert(0, "clip_id", np.repeat([f"clip{i:02d}" for i in range(n_clips)], segments))
    return table


def train_mask(table: pd.DataFrame) -> pd.Series:
    return table["clip_id"] < "clip10"


def test_ranges_come_from_training_rows_and_flag_held_out_outliers(gx_run: GXRun) -> None:
    table = segment_table()
    held_out = table.index[~train_mask(table)]
    table.loc[held_out[:3], "rms_mean"] = 1e3  # 3 of 40 held-out segments in one column
    table.loc[held_out[5:8], "zcr_mean"] = -1e3  # and 3 below the range in another (an earlier column)
    table.loc[held_out[9], "mfcc01_mean"] = 1e3  # one of 40 (2.5%): within the tolerated share (5%)
    report, profile = validate_features(table, NAMES, ValidationConfig(feature_range_margin=0.1), gx_run,
                                        train_mask(table))
    assert {c.suite for c in report.checks} == {"features", "feature-values", "feature-ranges"}
    assert sum(c.suite == "feature-ranges" for c in report.checks) == len(NAMES)
    assert not report.critical
    low, check = report.warnings  # every other column of the held-out rows lies inside its range
    assert (check.suite, check.severity, check.column) == ("feature-ranges", WARNING, "rms_mean")
    assert check.offending == ["clip10"] and "3 of 40 unexpected" in str(check.observed)
    assert (low.column, low.offending) == ("zcr_mean", ["clip10"])
    assert not check.quarantines and report.quarantine() == {}
    train = table.loc[train_mask(table), NAMES]
    assert profile is not None and profile.rows == len(train)
    span = train.max() - train.min()
    assert np.allclose(profile.low, train.min() - 0.1 * span) and np.allclose(profile.high, train.max() + 0.1 * span)


def test_margin_comes_from_the_config_and_all_training_rows_check_no_ranges(gx_run: GXRun) -> None:
    table = segment_table()
    everything = pd.Series(True, index=table.index)
    report, profile = validate_features(table, NAMES, ValidationConfig(feature_range_margin=0.25), gx_run, everything)
    assert profile is not None and profile.margin == 0.25 and profile.rows == len(table)
    assert {c.suite for c in report.checks} == {"features", "feature-values"}  # no held-out rows to check


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_nan_or_inf_feature_is_critical_and_named(gx_run: GXRun, bad: float) -> None:
    table = segment_table()
    table.loc[27, "mfcc03_mean"] = bad
    report, profile = validate_features(table, NAMES, ValidationConfig(), gx_run, train_mask(table))
    assert profile is None
    assert len(report.critical) == 1 and not report.warnings
    check = report.critical[0]
    expected = "expect_column_values_to_not_be_null" if np.isnan(bad) else "expect_column_values_to_be_between"
    assert (check.suite, check.expectation, check.severity) == ("feature-values", expected, CRITICAL)
    assert check.offending == ["clip01"] and check.details["clip01"] == "column=mfcc03_mean"
    with pytest.raises(ValidationError, match=r"feature-values: .* \(observed: 1 of \d+ unexpected.*clip01 \(column=mfcc03_mean\)"):
        report.raise_for_critical()


def test_schema_must_equal_the_feature_config(gx_run: GXRun) -> None:
    table = segment_table().drop(columns=["chroma03_std"])
    report, _ = validate_features(table, NAMES, ValidationConfig(), gx_run, train_mask(table))
    schema = [c for c in report.critical if c.suite == "features"]
    assert len(schema) == 1 and schema[0].expectation == "expect_table_columns_to_match_ordered_list"
    assert "chroma03_std" in str(schema[0].observed)


def test_profile_is_saved_and_loaded_with_the_predictor(tmp_path: Path) -> None:
    table = segment_table()
    profile = FeatureProfile.learn(table[NAMES].to_numpy(), NAMES)
    model = LogisticRegression(max_iter=50).fit(table[NAMES].to_numpy(), table["label"].to_numpy())
    Predictor(labels=["g0", "g1"], features=FeatureConfig(), classical={"logreg": model},
              combiner=Combiner("member", ["logreg"], [1.0], n_classes=2),
              profile=profile).save(tmp_path / "model")
    assert (tmp_path / "model" / PROFILE_FILE).is_file()
    loaded = Predictor.load(tmp_path / "model")
    assert loaded.profile == profile
    Predictor(labels=["g0", "g1"], features=FeatureConfig(), classical={"logreg": model},
              combiner=Combiner("member", ["logreg"], [1.0], n_classes=2)).save(
        tmp_path / "old")
    assert Predictor.load(tmp_path / "old").profile is None


def test_real_clip_features_pass(gtzan_mini: Path, tmp_path: Path) -> None:
    data = tmp_path / "data"
    for genre in ("blues", "classical", "metal"):  # a few real clips keep the feature extraction quick
        for clip in sorted((gtzan_mini / genre).glob("*.wav"))[:2]:
            (data / genre).mkdir(parents=True, exist_ok=True)
            (data / genre / clip.name).symlink_to(clip)
    cfg = load_config(home=str(tmp_path / "home"), workers=1)
    catalog, store = Catalog(cfg.catalog_path), BlobStore(cfg.store_dir)
    ingest_folder(data, store, catalog, cfg.ingest, progress=False)
    table = clips(catalog.frame())
    fs = extract_dataset(table, [str(store.path(s)) for s in table["sha256"]], cfg.feature_cache, cfg.features,
                         progress=False)
    train = fs.table["clip_id"].isin(table.groupby("label")["clip_id"].first())
    report, profile = validate_features(fs.table, feature_names(cfg.features), cfg.validation, GXRun(), train)
    assert not report.critical, report.table()
    assert profile is not None and profile.names == fs.names


def test_profile_bounds_are_the_training_range_widened_by_a_tenth_of_the_span() -> None:
    x = np.array([[0.1, 5.0], [0.7, 5.0], [0.4, 5.0]], dtype=np.float32)
    profile = FeatureProfile.learn(x, ["a", "b"])
    assert profile.low == pytest.approx([0.1 - 0.06, 5.0]) and profile.high == pytest.approx([0.7 + 0.06, 5.0])
    assert FeatureProfile.learn(x.astype(np.float64), ["a", "b"]) == profile  # computed in float64 whatever comes in
    assert FeatureProfile.learn(x[:1], ["a", "b"]).rows == 1  # one training segment is a profile too
    assert profile.margin == 0.1 and FeatureProfile.learn(x, ["a", "b"], margin=0.5).margin == 0.5


def test_a_column_is_unusual_when_more_than_half_its_segments_are_outside_the_bounds() -> None:
    profile = FeatureProfile(["a", "b"], [0.0, 0.0], [1.0, 1.0], rows=4, margin=0.1)
    assert profile.outside(np.array([[0.0, 1.0], [0.0, 1.0]])) == []  # on the bounds is inside
    assert profile.outside(np.array([[-0.1, 1.1], [0.5, 0.5]])) == []  # half the segments: not more than half
    assert profile.outside(np.array([[-0.1, 1.1], [-0.1, 0.5], [0.5, 1.1]])) == ["a", "b"]
    assert profile.outside(np.array([[-0.1, 0.5], [0.5, 0.5]]), share=0.4) == ["a"]


@pytest.mark.parametrize("x", [np.zeros((0, 2)), np.zeros((3, 3)), np.zeros(2)], ids=["empty", "wide", "1-D"])
def test_profile_refuses_a_matrix_that_does_not_match_its_names(x: np.ndarray) -> None:
    with pytest.raises(ValueError, match=r"need a non-empty \(rows, 2\) feature matrix, got shape"):
        FeatureProfile.learn(x, ["a", "b"])
