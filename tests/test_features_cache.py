"""Cache, failures, outputs and PNG rendering of the extractor, on small generated clips."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
from PIL import Image

from genre.config import FeatureConfig
from genre.data.store import sha256_file
from genre.features.dataset import FAILURES_FILE, MELS_FILE, TABLE_FILE, FeatureCache, extract_dataset
from genre.features.extractor import feature_names
from genre.features.images import save_png, to_rgb


def _catalog(paths: list[Path], labels: list[str]) -> pd.DataFrame:
    return pd.DataFrame({"clip_id": [p.stem for p in paths], "sha256": [sha256_file(p) for p in paths],
                         "label": labels})


@pytest.fixture
def dataset(tone) -> tuple[pd.DataFrame, list[Path]]:
    paths = [tone(f"c{i}.wav", freq=220.0 * (i + 1), seconds=4.5, seed=i) for i in range(3)]
    return _catalog(paths, ["a", "b", "a"]), paths


def _run(dataset, root: Path, cfg: FeatureConfig, **kw):
    clips, paths = dataset
    return extract_dataset(clips, paths, root / "cache", cfg, progress=False, out_root=root / "sets", **kw)


def _digest(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*.npy"))}


def test_rerun_computes_nothing_and_gives_the_same_table(dataset, tmp_path: Path) -> None:
    cfg = FeatureConfig()
    first = _run(dataset, tmp_path, cfg)
    assert (first.stats.decoded, first.stats.features, first.stats.mels, first.stats.cached) == (3, 3, 3, 0)
    again = _run(dataset, tmp_path, cfg)
    assert (again.stats.decoded, again.stats.features, again.stats.mels, again.stats.cached) == (0, 0, 0, 3)
    pd.testing.assert_frame_equal(first.table, again.table)
    np.testing.assert_array_equal(first.mels, again.mels)
    # 4.5 s at 3 s windows with 50% overlap: two segments per clip
    assert len(first.table) == 6 and first.mels.shape == (6, 96, 130)
    assert (first.table[first.names].dtypes == np.float32).all()
    assert list(first.table.columns[:3]) == ["clip_id", "segment", "label"]


def test_config_change_recomputes_only_what_it_touches(dataset, tmp_path: Path) -> None:
    base = FeatureConfig()
    _run(dataset, tmp_path, base)
    mels_only = _run(dataset, tmp_path, base.model_copy(update={"n_mels": 64}))
    assert (mels_only.stats.decoded, mels_only.stats.features, mels_only.stats.mels) == (3, 0, 3)
    assert mels_only.mels.shape == (6, 64, 130)
    features_only = _run(dataset, tmp_path, base.model_copy(update={"n_mfcc": 13}))
    assert (features_only.stats.decoded, features_only.stats.features, features_only.stats.mels) == (3, 3, 0)
    assert "mfcc12_mean" in features_only.table and "mfcc13_mean" not in features_only.table
    both = _run(dataset, tmp_path, base.model_copy(update={"segment_seconds": 2.0}))
    assert (both.stats.features, both.stats.mels) == (3, 3)
    # switching back to a config seen before is all cache hits
    back = _run(dataset, tmp_path, base.model_copy(update={"n_mels": 64}))
    assert back.stats.decoded == 0


def test_outputs_are_parquet_and_npy_and_reload(dataset, tmp_path: Path) -> None:
    fs = _run(dataset, tmp_path, FeatureConfig())
    assert fs.folder is not None and fs.folder.parent == tmp_path / "sets"
    table = pd.read_parquet(fs.folder / TABLE_FILE)
    pd.testing.assert_frame_equal(table, fs.table)
    mels = np.load(fs.folder / MELS_FILE)
    assert mels.dtype == np.float16 and len(mels) == len(table)
    assert isinstance(fs.mels, np.memmap)
    assert not list(fs.folder.glob(".*")), "a temporary file was left behind"


def test_bad_clips_are_recorded_and_the_batch_goes_on(dataset, tmp_path: Path) -> None:
    clips, paths = dataset
    cfg = FeatureConfig()
    _run(dataset, tmp_path, cfg)
    before = _digest(tmp_path / "cache")
    garbage = tmp_path / "garbage.wav"
    garbage.write_bytes(b"RIFF not really a wave file" * 50)
    silent = tmp_path / "silent.wav"
    sf.write(silent, np.zeros(4 * 22050, dtype=np.float32), 22050)
    short = tmp_path / "short.wav"
    sf.write(short, np.full(1000, 0.1, dtype=np.float32), 22050)
    bad = [garbage, silent, short]
    all_clips = pd.concat([clips, _catalog(bad, ["a", "b", "a"])], ignore_index=True)
    fs = extract_dataset(all_clips, [*paths, *bad], tmp_path / "cache", cfg, progress=False,
                         out_root=tmp_path / "sets")
    assert set(fs.failures) == {"garbage", "short"}
    assert "garbage" in fs.failures["garbage"] and "not decodable" in fs.failures["garbage"]
    assert "0.05 s of audio is shorter than the minimum of 1 s" in fs.failures["short"]
    # digital silence has finite features now (validation quarantines it as silent before training)
    assert sorted(fs.table["clip_id"].unique()) == ["c0", "c1", "c2", "silent"]
    assert np.isfinite(fs.features()).all()
    assert fs.stats.failed == 2 and fs.stats.cached == 3
    after = _digest(tmp_path / "cache")
    assert {k: after.get(k) for k in before} == before, "the new clips changed stored cache entries"
    import json

    assert json.loads((fs.folder / FAILURES_FILE).read_text()) == fs.failures


def test_process_pool_gives_the_same_table(dataset, tmp_path: Path) -> None:
    cfg = FeatureConfig(n_mfcc=13)
    serial = _run(dataset, tmp_path / "one", cfg)
    pooled = _run(dataset, tmp_path / "two", cfg, workers=2)
    assert pooled.stats.decoded == 3
    pd.testing.assert_frame_equal(serial.table, pooled.table)
    np.testing.assert_array_equal(serial.mels, pooled.mels)


def test_cache_layout_is_keyed_by_output(dataset, tmp_path: Path) -> None:
    clips, _ = dataset
    cfg = FeatureConfig()
    _run(dataset, tmp_path, cfg)
    cache = FeatureCache(tmp_path / "cache", cfg)
    sha = clips["sha256"][0]
    assert cache.path("features", sha).parent.parent.name == f"features-{cache.keys['features']}"
    assert cache.get("features", sha).shape == (2, len(feature_names(cfg)))
    assert cache.missing(sha) == ()


def test_png_straight_from_the_array(tmp_path: Path) -> None:
    mel = np.full((96, 130), -80.0, dtype=np.float16)
    mel[:10] = 0.0  # loud low frequencies
    rgb = to_rgb(mel, 64)
    assert rgb.shape == (64, 64, 3) and rgb.dtype == np.uint8
    assert rgb[-1].mean() > rgb[0].mean(), "low frequencies belong at the bottom"
    path = save_png(mel, tmp_path / "img" / "x.png", size=(120, 80))
    with Image.open(path) as img:
        assert img.format == "PNG" and img.size == (120, 80)
        np.testing.assert_array_equal(np.asarray(img.convert("RGB")), to_rgb(mel, (120, 80)))
    assert not list(path.parent.glob(".*")), "a temporary file was left behind"


def test_cli_renders_pngs_and_reports_bad_files(tone, tmp_path: Path, capsys) -> None:
    from flows.cli import main

    good = tone("song.wav", seconds=4.5)
    bad = tmp_path / "broken.mp3"
    bad.write_bytes(b"\x00" * 100)
    out = tmp_path / "pics"
    assert main(["spectrogram", str(good), str(bad), "--out", str(out), "--size", "100x50"]) == 1
    assert "broken.mp3: error:" in capsys.readouterr().err
    with Image.open(out / "song.png") as img:
        assert img.size == (100, 50)
    assert main(["spectrogram", str(good), "--out", str(out), "--segments", "--size", "64"]) == 0
    assert sorted(p.name for p in out.glob("song-*.png")) == ["song-00.png", "song-01.png"]
