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


def test_rank_auc_counts_a_class_with_one_clip_and_is_nan_without_two_classes() -> None:
    import numpy as np

    from genre.metrics.scores import bootstrap_roc_auc, macro_roc_auc, rank_macro_auc

    y = np.array([0, 0, 0, 1, 1, 2])  # genre 2 has a single clip
    probs = np.random.default_rng(3).dirichlet(np.ones(3), size=len(y))
    assert rank_macro_auc(y, probs) == pytest.approx(macro_roc_auc(y, probs))
    assert np.isnan(rank_macro_auc(np.array([1, 1]), probs[:2]))
    with pytest.raises(ValueError, match="no bootstrap resample held two classes"):
        bootstrap_roc_auc(np.array([1, 1, 1]), probs[:3], n=50)
