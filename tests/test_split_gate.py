"""Frozen clip-level splits and clip-level scores."""

from __future__ import annotations

import pandas as pd
import pytest

from genre.config import SplitConfig
from genre.models.split import assign_splits, fingerprint, freeze


def _clips(n_per_label: int, labels=("a", "b", "c")) -> pd.DataFrame:
    return pd.DataFrame([{"clip_id": f"{lab}{i:03d}", "label": lab} for lab in labels for i in range(n_per_label)])


def test_every_label_in_every_split_at_target_shares() -> None:
    clips = _clips(20)
    split = assign_splits(clips, SplitConfig(validation=0.2, test=0.2))
    frame = clips.assign(split=clips["clip_id"].map(split))
    counts = frame.groupby(["label", "split"]).size().unstack()
    assert (counts["test"] == 4).all() and (counts["validation"] == 4).all() and (counts["train"] == 12).all()


def test_split_is_frozen_when_clips_are_added(tmp_path) -> None:
    path = tmp_path / "splits.json"
    first = freeze(path, _clips(10), SplitConfig())
    second = freeze(path, _clips(15), SplitConfig())
    assert all(second[c] == s for c, s in first.items())
    assert fingerprint(first) != fingerprint(second)  # new clips joined the test split too
    assert freeze(path, _clips(15), SplitConfig()) == second


def test_a_genre_of_three_clips_reaches_every_split() -> None:
    split = assign_splits(_clips(3), SplitConfig(validation=0.2, test=0.2))
    for label in "abc":
        assert sorted(s for c, s in split.items() if c.startswith(label)) == ["test", "train", "validation"]


def test_sections_of_one_recording_stay_in_one_split() -> None:
    # overlapping sections of 12 recordings, as an AudioSet or manifest source gives them
    rows = [{"clip_id": f"r{r:02d}s{s}", "label": "ab"[r % 2], "recording": f"manifest:youtube:{r:02d}"}
            for r in range(12) for s in range(3)]
    clips = pd.DataFrame(rows)
    split = assign_splits(clips, SplitConfig(validation=0.2, test=0.2))
    by_recording = clips.assign(split=clips["clip_id"].map(split)).groupby("recording")["split"].nunique()
    assert (by_recording == 1).all()
    assert set(split.values()) == {"train", "validation", "test"}


RACER = """
import sys, time
import pandas as pd
import pytest
import genre.models.split as split
from genre.config import SplitConfig

slow = split.write_json
def write_json(path, obj):  # a slow disk: the write lands long after the read
    time.sleep(float(sys.argv[3]))
    slow(path, obj)
split.write_json = write_json
n = int(sys.argv[2])
clips = pd.DataFrame([{"clip_id": f"{lab}{i:03d}", "label": lab} for lab in "abc" for i in range(n)])
got = split.freeze(__import__("pathlib").Path(sys.argv[1]), clips, SplitConfig())
print(__import__("json").dumps(got))
"""


def test_runs_that_freeze_together_agree_with_the_saved_split(tmp_path) -> None:
    import json
    import subprocess
    import sys
    import time

    path = tmp_path / "splits.json"
    script = tmp_path / "racer.py"
    script.write_text(RACER)
    first = subprocess.Popen([sys.executable, str(script), str(path), "6", "1.5"], stdout=subprocess.PIPE, text=True)
    time.sleep(0.7)  # the first run has read the (empty) split and is writing
    second = subprocess.Popen([sys.executable, str(script), str(path), "20", "0"], stdout=subprocess.PIPE, text=True)
    outs = [json.loads(p.communicate(timeout=120)[0]) for p in (first, second)]
    saved = json.loads(path.read_text())
    for got in outs:  # what each run trained and tested on is what the file says
        assert {c: saved[c] for c in got} == got


def test_macro_f1_averages_the_genres_present() -> None:
    import numpy as np

    from genre.metrics.scores import score

    y = np.array([0, 0, 1, 1])  # genre 2 has no clip in this split
    probs = np.eye(3)[[0, 0, 1, 1]] * 0.8 + 0.05
    assert score(y, probs).macro_f1 == 1.0


def test_new_sections_of_a_frozen_recording_join_its_split(tmp_path) -> None:
    rows = [{"clip_id": f"r{r:02d}s0", "label": "ab"[r % 2], "recording": f"yt:{r:02d}"} for r in range(12)]
    path = tmp_path / "splits.json"
    first = freeze(path, pd.DataFrame(rows), SplitConfig())
    more = rows + [{"clip_id": f"r{r:02d}s1", "label": "ab"[r % 2], "recording": f"yt:{r:02d}"} for r in range(12)]
    second = freeze(path, pd.DataFrame(more), SplitConfig())
    assert all(second[f"r{r:02d}s1"] == first[f"r{r:02d}s0"] for r in range(12))
    assert path.with_name("splits.json.lock").is_file()  # the lock lives beside the file it guards
    # clips frozen apart before recordings were known keep their own splits
    legacy = {"r00s0": "test", "r00s1": "train"}
    kept = assign_splits(pd.DataFrame(more), SplitConfig(), legacy)
    assert kept["r00s0"] == "test" and kept["r00s1"] == "train"


def test_shares_hold_when_clips_join_a_frozen_split_and_the_seed_matters(tmp_path) -> None:
    path = tmp_path / "splits.json"
    freeze(path, _clips(10), SplitConfig(validation=0.2, test=0.2))
    grown = freeze(path, _clips(20), SplitConfig(validation=0.2, test=0.2))
    for label in "abc":
        counts = pd.Series([s for c, s in grown.items() if c.startswith(label)]).value_counts()
        assert counts.to_dict() == {"train": 12, "validation": 4, "test": 4}
    one, other = (assign_splits(_clips(20), SplitConfig(seed=s)) for s in (1, 2))
    assert one != other and sorted(one.values()) == sorted(other.values())


def test_fingerprint_names_the_test_clips_only() -> None:
    a = {"x": "test", "y": "train", "z": "validation"}
    assert fingerprint(a) == fingerprint({**a, "y": "validation", "w": "train"})
    assert fingerprint(a) != fingerprint({**a, "y": "test"})


def test_fingerprint_is_stable_across_versions() -> None:
    # champions and gate records store it: the same test clips must give the same value in every release
    import hashlib

    a = {"b": "test", "a": "test", "c": "train"}
    assert fingerprint(a) == hashlib.sha256(b"a\nb").hexdigest()[:12]


@pytest.mark.parametrize(("validation", "test", "n", "expected"), [
    (0.1, 0.25, 10, (1, 3)), (0.1, 0.25, 14, (1, 4)), (0.2, 0.2, 12, (2, 2)), (0.1, 0.15, 16, (2, 2))])
def test_validation_and_test_get_their_share_rounded_half_up(validation, test, n, expected) -> None:
    split = assign_splits(_clips(n, labels=("a",)), SplitConfig(validation=validation, test=test))
    got = [sum(s == name for s in split.values()) for name in ("validation", "test")]
    assert tuple(got) == expected  # round(share x n), a half going to the split; train takes the rest


def test_new_clips_make_up_the_shares_a_frozen_split_lacks() -> None:
    frozen = {f"a{i:03d}": "train" for i in range(10)}  # e.g. frozen before validation and test existed
    split = assign_splits(_clips(20, labels=("a",)), SplitConfig(validation=0.2, test=0.2), frozen)
    assert {c: split[c] for c in frozen} == frozen
    assert pd.Series(list(split.values())).value_counts().to_dict() == {"train": 12, "validation": 4, "test": 4}


def test_the_split_does_not_depend_on_the_order_of_rows() -> None:
    # recordings whose sections carry two labels (one mislabelled): the label handled first places the recording
    rows = [{"clip_id": f"r{r:02d}s{s}", "label": "ab"[(r + s) % 2], "recording": f"yt:{r:02d}"}
            for r in range(10) for s in range(2)]
    rows += [{"clip_id": f"q{r:02d}", "label": "ab"[r % 2], "recording": f"yt:q{r:02d}"} for r in range(10)]
    clips = pd.DataFrame(rows)
    split = assign_splits(clips, SplitConfig())
    for other in (clips.iloc[::-1], clips.sort_values("label", ascending=False)):
        assert assign_splits(other.reset_index(drop=True), SplitConfig()) == split


def test_rank_auc_counts_a_class_with_one_clip_and_is_nan_without_two_classes() -> None:
    import numpy as np

    from genre.metrics.scores import bootstrap_roc_auc, macro_roc_auc, rank_macro_auc

    y = np.array([0, 0, 0, 1, 1, 2])  # genre 2 has a single clip
    probs = np.random.default_rng(3).dirichlet(np.ones(3), size=len(y))
    assert rank_macro_auc(y, probs) == pytest.approx(macro_roc_auc(y, probs))
    assert np.isnan(rank_macro_auc(np.array([1, 1]), probs[:2]))
    with pytest.raises(ValueError, match="no bootstrap resample held two classes"):
        bootstrap_roc_auc(np.array([1, 1, 1]), probs[:3], n=50)


def test_clip_means_and_labels_follow_the_first_seen_clip_order() -> None:
    import numpy as np

    from genre.metrics.scores import clip_mean, clip_truth

    probs = np.array([[0.2, 0.8], [0.4, 0.6], [0.9, 0.1], [0.6, 0.4], [0.0, 1.0]])
    clips = np.array(["z", "z", "a", "a", "z"])
    ids, means = clip_mean(probs, clips)
    assert ids.tolist() == ["z", "a"] and means.dtype == np.float64
    np.testing.assert_allclose(means, [[0.2, 0.8], [0.75, 0.25]])
    labels, clip_probs = clip_truth(probs, np.array([1, 1, 0, 0, 1]), clips)
    assert labels.tolist() == [1, 0]
    np.testing.assert_allclose(clip_probs, means)


def test_scores_of_clip_probabilities_against_sklearn() -> None:
    import numpy as np
    from sklearn.metrics import roc_auc_score

    from genre.metrics.scores import macro_roc_auc, score

    y = np.array([0, 0, 0, 1, 1, 1, 1, 0])  # genre 2: no clip here, so no ROC-AUC or F1 for it
    probs = np.array([[0.7, 0.2, 0.1], [0.3, 0.6, 0.1], [0.5, 0.4, 0.1], [0.2, 0.7, 0.1],
                      [0.6, 0.3, 0.1], [0.1, 0.8, 0.1], [0.4, 0.5, 0.1], [0.8, 0.1, 0.1]])
    expected_auc = np.mean([roc_auc_score(y == k, probs[:, k]) for k in (0, 1)])
    assert macro_roc_auc(y, probs) == pytest.approx(expected_auc) and 0.5 < expected_auc < 1
    s = score(y, probs)
    assert s.roc_auc == pytest.approx(expected_auc) and s.accuracy == pytest.approx(6 / 8) and s.n_clips == 8
    assert s.macro_f1 == pytest.approx(0.75)  # both genres: 3 of 4 right, precision 3/4
    assert s.confusion.tolist() == [[3, 1, 0], [1, 3, 0], [0, 0, 0]]  # every genre has a row, even an absent one
    assert s.row() == {"roc_auc": round(expected_auc, 4), "accuracy": 0.75, "macro_f1": 0.75, "clips": 8}
    with pytest.raises(ValueError, match="ROC-AUC needs at least two classes in the evaluated clips"):
        macro_roc_auc(np.array([1, 1]), probs[:2])


def test_rank_auc_equals_sklearn_with_ties() -> None:
    import numpy as np

    from genre.metrics.scores import macro_roc_auc, rank_macro_auc

    rng = np.random.default_rng(5)
    y = rng.integers(0, 4, size=40)
    probs = rng.integers(0, 4, size=(40, 4)) / 4  # many ties
    assert rank_macro_auc(y, probs) == pytest.approx(macro_roc_auc(y, probs))


def _percentile_interval(statistic, n_clips: int, n: int, seed: int, level: float) -> tuple[float, float]:
    """An independent percentile bootstrap: the resamples the documented rule draws, NaN statistics dropped."""
    import numpy as np

    rows = np.random.default_rng(seed).integers(0, n_clips, size=(n, n_clips))
    values = np.array([statistic(r) for r in rows])
    values = values[np.isfinite(values)]
    return tuple(np.percentile(values, [50 * (1 - level), 100 - 50 * (1 - level)]))


def test_bootstrap_intervals_are_percentiles_of_resampled_clips() -> None:
    import numpy as np

    from genre.metrics.scores import bootstrap_difference, bootstrap_roc_auc, rank_macro_auc

    rng = np.random.default_rng(11)
    y = np.array([0, 1] * 4 + [0])  # 9 clips: a few resamples hold one class only (NaN, dropped)
    good = np.eye(2)[y] * 0.6 + rng.uniform(0, 0.4, size=(9, 2))
    noise = rng.uniform(size=(9, 2))
    auc = _percentile_interval(lambda r: rank_macro_auc(y[r], good[r]), 9, 1000, 0, 0.95)
    assert bootstrap_roc_auc(y, good) == pytest.approx(auc)  # the defaults: 1000 resamples, seed 0, 95%
    narrow = _percentile_interval(lambda r: rank_macro_auc(y[r], noise[r]), 9, 300, 4, 0.5)
    assert bootstrap_roc_auc(y, noise, n=300, seed=4, level=0.5) == pytest.approx(narrow)
    diff = _percentile_interval(lambda r: rank_macro_auc(y[r], good[r]) - rank_macro_auc(y[r], noise[r]),
                                9, 1000, 0, 0.95)
    assert bootstrap_difference(y, good, noise) == pytest.approx(diff) and diff[0] >= 0 < diff[1]
    assert bootstrap_difference(y, noise, good, n=200, seed=2, level=0.8) == pytest.approx(_percentile_interval(
        lambda r: rank_macro_auc(y[r], noise[r]) - rank_macro_auc(y[r], good[r]), 9, 200, 2, 0.8))
    assert bootstrap_difference(y, good, good) == (0.0, 0.0)


def test_per_class_table_of_argmax_predictions() -> None:
    import numpy as np

    from genre.metrics.scores import per_class

    y = np.array([0, 0, 1, 1, 1])
    probs = np.eye(3)[[0, 1, 1, 1, 2]]  # genre "c" predicted once, never true
    table = per_class(y, probs, ["a", "b", "c"])
    assert table.index.name == "class" and table.index.tolist() == ["a", "b", "c"]
    assert table.columns.tolist() == ["precision", "recall", "f1", "support"]
    np.testing.assert_allclose(table["precision"], [1.0, 2 / 3, 0.0])
    np.testing.assert_allclose(table["recall"], [0.5, 2 / 3, 0.0])
    np.testing.assert_allclose(table["f1"], [2 / 3, 2 / 3, 0.0])
    assert table["support"].tolist() == [2, 3, 0]


def test_macro_f1_leaves_out_a_genre_only_predicted_and_rows_keep_four_decimals() -> None:
    import numpy as np

    from genre.metrics.scores import Scores, clip_mean, macro_roc_auc, score

    y = np.array([0, 0, 1, 1])
    probs = np.eye(3)[[0, 2, 1, 1]] * 0.8 + 0.05  # one clip of genre 0 called genre 2, absent from this split
    assert score(y, probs).macro_f1 == pytest.approx((2 / 3 + 1) / 2)  # genres 0 and 1, not a third F1 of 0
    row = Scores(roc_auc=0.123456, accuracy=0.654321, macro_f1=0.987654, confusion=np.eye(2), n_clips=3).row()
    assert row == {"roc_auc": 0.1235, "accuracy": 0.6543, "macro_f1": 0.9877, "clips": 3}
    assert clip_mean(probs.astype(np.float32), np.array([1, 1, 2, 2]))[1].dtype == np.float64
    with pytest.raises(ValueError, match=r"^ROC-AUC needs at least two classes in the evaluated clips$"):
        macro_roc_auc(np.array([2, 2]), probs[:2])


def test_rank_auc_skips_a_genre_absent_from_the_clips_and_the_bootstrap_says_why_it_cannot() -> None:
    import numpy as np

    from genre.metrics.scores import bootstrap_roc_auc, macro_roc_auc, rank_macro_auc

    y = np.array([0, 1, 0, 1, 1])  # three genres in the model, two in these clips
    probs = np.random.default_rng(2).dirichlet(np.ones(3), size=len(y))
    assert rank_macro_auc(y, probs) == pytest.approx(macro_roc_auc(y, probs))
    with pytest.raises(ValueError, match=r"^no bootstrap resample held two classes: too few clips for an interval$"):
        bootstrap_roc_auc(np.array([2, 2]), probs[:2], n=20)


def test_per_class_has_a_row_for_a_genre_neither_true_nor_predicted() -> None:
    import numpy as np

    from genre.metrics.scores import per_class

    table = per_class(np.array([0, 1]), np.eye(3)[[0, 1]], ["a", "b", "c"])  # "c": no clip, never predicted
    assert table.loc["c"].tolist() == [0.0, 0.0, 0.0, 0] and table.loc["a", "f1"] == 1.0
