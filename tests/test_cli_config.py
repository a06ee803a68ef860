"""The command line and the configuration."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from genre.config import RunSettings, SplitConfig, load_config


@pytest.mark.parametrize("command", [[], ["run"], ["predict"], ["serve"]])
def test_help_is_fast_and_explains(command) -> None:
    start = time.perf_counter()
    out = subprocess.run([sys.executable, "-m", "flows.cli", *command, "--help"], capture_output=True, text=True,
                         check=True).stdout
    assert time.perf_counter() - start < 5  # no TensorFlow, Prefect or BentoML import for --help
    assert "usage: genre" in out
    if not command:
        assert all(word in out for word in ("run", "predict", "serve", "SYNTHETIC"))


def test_predict_without_champion_says_what_to_do(tmp_path) -> None:
    proc = subprocess.run([sys.executable, "-m", "flows.cli", "--home", str(tmp_path), "predict", "x.wav"],
                          capture_output=True, text=True)
    assert proc.returncode == 2 and "run `genre run` first" in proc.stderr


def test_overrides_and_file(tmp_path) -> None:
    path = tmp_path / "genre.toml"
    path.write_text('[cnn]\nepochs = 9\n[gate]\nmin_roc_auc = 0.8\n')
    cfg = load_config(path, **{"cnn.epochs": 3})
    assert cfg.cnn.epochs == 3 and cfg.gate.min_roc_auc == 0.8
    assert load_config(**{"features.n_mels": 64}).features.digest() != load_config().features.digest()
    with pytest.raises(ValueError):
        load_config(**{"cnn.epochz": 3})
    with pytest.raises(FileNotFoundError):
        load_config(tmp_path / "missing.toml")


@pytest.mark.parametrize("preset", sorted((Path(__file__).parents[1] / "configs").glob("*.toml")), ids=lambda p: p.name)
def test_every_documented_preset_loads(preset: Path) -> None:
    """The presets under configs/ hold only known keys with valid values (a typo would fail a user's run)."""
    cfg = load_config(preset)
    assert cfg != load_config()  # it changes something


def test_run_settings_build_the_cli_config(tmp_path) -> None:
    """Flow parameters (RunSettings, a form in the Prefect UI) and `--set` give the same Config; a value left at its
    default keeps the TOML file's."""
    path = tmp_path / "genre.toml"
    path.write_text('[cnn]\nepochs = 9\n[split]\nseed = 7\n')
    dotted = {"cnn.epochs": 3, "classical.models": ["logreg"], "workers": 2}
    settings = RunSettings.model_validate({"cnn": {"epochs": 3}, "classical": {"models": ["logreg"]}, "workers": 2,
                                           "split": {"seed": SplitConfig().seed}})  # as a form sends a default
    assert settings.model_dump() == RunSettings.from_dotted(dotted).model_dump()
    cfg = settings.config(path, home=tmp_path)
    assert cfg == load_config(path, home=tmp_path, **dotted)
    # a key given on the command line wins even where it equals the default: `--set cnn.mixup=0` turns a preset's off
    path.write_text('[cnn]\nmixup = 0.4\n')
    assert RunSettings.from_dotted({"cnn.mixup": 0}).config(path).cnn.mixup == 0
    assert RunSettings.from_dotted({"cnn.epochs": 3}).config(path).cnn.mixup == 0.4  # what is not given stays
    form = RunSettings.model_validate({"cnn": {"mixup": 0.0, "epochs": 3}})  # a form sends every field
    assert form.config(path).cnn.mixup == 0.4 and form.config(path).cnn.epochs == 3
    assert cfg.cnn.epochs == 3 and cfg.split.seed == 7 and cfg.classical.models == ("logreg",)
    with pytest.raises(ValueError):
        RunSettings.from_dotted({"serve.port": 80})  # not a run's concern


def test_run_on_a_missing_folder_ends_with_one_clear_line(tmp_path) -> None:
    proc = subprocess.run([sys.executable, "-m", "flows.cli", "--home", str(tmp_path / "home"), "run", "--data",
                           str(tmp_path / "nowhere")], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PREFECT_HOME": str(tmp_path / "prefect")})
    assert proc.returncode == 1
    last = [line for line in proc.stderr.splitlines() if line.startswith("genre run:")]
    assert last == [f"genre run: stopped in stage ingest: {tmp_path / 'nowhere'} does not exist: give a folder, a manifest CSV or "
                    "an AudioSet segment CSV"]
