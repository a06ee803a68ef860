"""Model registry on BentoML's model store, with a champion pointer beside it.

Models are immutable BentoML models; the champion is a small JSON file naming one
tag, replaced atomically on promotion, so nothing stored is ever overwritten.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

from genre.atomic import write_json

SERVICE = "services.classifier:GenreClassifier"
PROJECT_ROOT = Path(__file__).resolve().parent.parent


def use_store(home: str | Path) -> Path:
    """Point BentoML at ``home/bentoml``; call before BentoML touches its store."""
    path = Path(home).resolve() / "bentoml"
    path.mkdir(parents=True, exist_ok=True)
    os.environ["BENTOML_HOME"] = str(path)
    return path


def save_model(predictor_dir: Path, name: str, metadata: dict[str, Any], labels: dict[str, str]) -> str:
    """Copy a saved predictor into a new BentoML model; returns its tag."""
    import bentoml

    with bentoml.models.create(name, metadata=metadata, labels=labels) as model:
        for item in Path(predictor_dir).iterdir():
            shutil.copy2(item, Path(model.path) / item.name)
    return str(model.tag)


def model_path(tag: str) -> Path:
    import bentoml

    return Path(bentoml.models.get(tag).path)


def champion_file(home: str | Path) -> Path:
    return Path(home) / "champion.json"


def champion(home: str | Path) -> dict[str, Any] | None:
    """The current champion record (tag, metrics, test split), or None."""
    path = champion_file(home)
    return json.loads(path.read_text()) if path.is_file() else None


def promote(home: str | Path, record: dict[str, Any]) -> None:
    """Make ``record['tag']`` the champion; the previous record is kept in the history."""
    previous = champion(home)
    history_file = Path(home) / "champion-history.json"
    history = json.loads(history_file.read_text()) if history_file.is_file() else []
    if previous:
        history.append(previous)
        write_json(history_file, history)
    write_json(champion_file(home), record)


def build_bento(tag: str, name: str) -> str:
    """Build a Bento serving model ``tag`` (stored as the Bento argument ``model_tag``); returns its tag."""
    import sys

    import bentoml

    sys.modules.pop(SERVICE.split(":")[0], None)  # the service resolves its model at import
    try:
        bento = bentoml.bentos.build(
            SERVICE,
            name=name,
            build_ctx=str(PROJECT_ROOT),
            include=["genre/**/*.py", "services/**/*.py"],
            args={"model_tag": tag},
            python={"packages": _runtime_packages()},
            labels={"model": tag.replace(":", "-")},
            description=f"genre classifier serving model {tag}",
        )
    finally:
        sys.modules.pop(SERVICE.split(":")[0], None)
    return str(bento.tag)


def _runtime_packages() -> list[str]:
    from importlib.metadata import PackageNotFoundError, version

    names = ["librosa", "scikit-learn", "xgboost-cpu", "tensorflow-cpu", "soundfile", "imageio-ffmpeg", "pillow",
             "matplotlib", "pydantic", "joblib", "pandas"]
    out = []
    for n in names:
        try:
            out.append(f"{n}=={version(n)}")
        except PackageNotFoundError:
            out.append(n)
    return out
