"""The layers of docs/ARCHITECTURE.md hold: import-linter's contracts in pyproject.toml, and small modules."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LINT = Path(sys.executable).with_name("lint-imports")


def test_import_contracts_are_kept():
    proc = subprocess.run([str(LINT), "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "0 broken" in proc.stdout


def test_an_upward_import_breaks_a_contract(tmp_path):
    # the contracts are not vacuous: a lazy import of the registry from the split module (models -> serving),
    # and of Prefect from the library, each break one
    for pkg in ("genre", "flows", "services"):
        shutil.copytree(ROOT / pkg, tmp_path / pkg, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    split = tmp_path / "genre" / "models" / "split.py"
    split.write_text(split.read_text() + "\n\ndef _up():\n    from genre.serving import registry  # noqa: F401\n")
    audio = tmp_path / "genre" / "data" / "audio.py"
    audio.write_text(audio.read_text() + "\n\ndef _flow():\n    import prefect  # noqa: F401\n")
    proc = subprocess.run([str(LINT), "--no-cache"], cwd=tmp_path, capture_output=True, text=True, timeout=120,
                          env={"PYTHONPATH": str(tmp_path), "PATH": ""})
    assert proc.returncode == 1
    out = " ".join(proc.stdout.split())
    assert "top to bottom; config, atomic and threads under all BROKEN" in out, proc.stdout
    assert "the library imports neither Prefect nor BentoML's service code BROKEN" in out, proc.stdout


def test_every_stage_package_says_what_it_holds_and_no_module_is_long():
    packages = [p for p in (ROOT / "genre").rglob("__init__.py")]
    assert len(packages) >= 8
    for init in packages:
        assert init.read_text().lstrip().startswith('"""'), f"{init} has no docstring"
    long = {str(p.relative_to(ROOT)): n for d in ("genre", "flows", "services")
            for p in (ROOT / d).rglob("*.py") if (n := len(p.read_text().splitlines())) > 380}
    assert not long, f"modules over 380 lines: {long}"
