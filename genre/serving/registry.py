"""Model registry on BentoML's model store, with the champion beside it.

Models are immutable BentoML models carrying their metadata (data version, feature config, test split, metrics,
gate record, commit, precision). ``champion.json`` holds the champions in order and every promotion and rollback;
it changes only inside :func:`transaction` (a lock across processes) and is replaced by one atomic rename, so a
killed promotion leaves the old champion or the new one, never half of each.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from genre.atomic import locked, write_json

SERVICE = "services.classifier:GenreClassifier"
BENTO_DESCRIPTION = """# genre classifier, model {tag}

- `POST /classify`: multipart field `audio` (wav, flac, mp3, ogg, au; m4a with ffmpeg), optional `segments=true`:
  the top genre, a probability per genre, the seconds analysed, the model tag, unusual features.
- `POST /classify_batch`: several `audio` files, one answer each; a bad file fails alone.
- `POST /feedback`: JSON `request_id` (every answer has one) and the true `genre`, for the monitor's live accuracy.
- `GET /model`: tag, genres, metrics, gate record, training data version, precision.
- `GET /livez`, `GET /readyz`, `GET /metrics`: BentoML's health, readiness and Prometheus metrics.
- `GET /`: a page for people (drop a song, see its genre; the model's facts and evaluation plots); `GET /docs`: the API.

Limits (upload size, duration) and the optional bearer token come from the `serve` config section
(`GENRE_SERVE_TOKEN` for the token); bad input is answered 400, 413 or 415 with the client's file name.
"""
PROJECT_ROOT = Path(__file__).resolve().parents[2]  # the repo: genre/serving/registry.py -> genre/serving -> genre -> .
REPORT_PLOTS = {"roc": "roc.png", "confusion": "confusion-ensemble.png"}  # in a run's evaluation/ folder
PLOTS_DIR = "evaluation"  # those plots' copy inside the BentoML model


def use_store(home: str | Path) -> Path:
    """Point BentoML at ``home/bentoml``, also in a process where BentoML has already opened another store."""
    import sys

    path = Path(home).resolve() / "bentoml"
    path.mkdir(parents=True, exist_ok=True)
    os.environ["BENTOML_HOME"] = str(path)
    if "bentoml" in sys.modules:  # its stores are singletons made at first use: point them at this home too
        from bentoml._internal.bento import BentoStore
        from bentoml._internal.configuration.containers import BentoMLContainer
        from bentoml._internal.models import ModelStore

        BentoMLContainer.bentoml_home.set(str(path))
        for name in ("models", "bentos", "tmp"):
            (path / name).mkdir(exist_ok=True)
        BentoMLContainer.model_store_dir.set(str(path / "models"))
        BentoMLContainer.bento_store_dir.set(str(path / "bentos"))
        BentoMLContainer.tmp_bento_store_dir.set(str(path / "tmp"))
        BentoMLContainer.model_store.set(ModelStore(path / "models"))
        BentoMLContainer.bento_store.set(BentoStore(path / "bentos"))
    return path


def save_model(predictor_dir: Path, name: str, metadata: dict[str, Any], labels: dict[str, str],
               evaluation_dir: Path | None = None) -> str:
    """Copy a saved predictor (and the report's plots from ``evaluation_dir``, so the model shows them wherever it
    is served) into a new BentoML model (``metadata`` made JSON-plain); returns its tag."""
    import bentoml

    with bentoml.models.create(name, metadata=_plain(json.loads(json.dumps(metadata, default=str))),
                               labels=labels) as model:
        for item in Path(predictor_dir).iterdir():
            (shutil.copytree if item.is_dir() else shutil.copy2)(item, Path(model.path) / item.name)
        plots = [Path(evaluation_dir) / f for f in REPORT_PLOTS.values()] if evaluation_dir else []
        for plot in [p for p in plots if p.is_file()]:
            (Path(model.path) / PLOTS_DIR).mkdir(exist_ok=True)
            shutil.copy2(plot, Path(model.path) / PLOTS_DIR / plot.name)
    return str(model.tag)


def _plain(value: Any) -> Any:
    """``value`` without None entries (BentoML's metadata refuses None)."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_plain(v) for v in value if v is not None]
    return value


def model_path(tag: str) -> Path:
    import bentoml

    return Path(bentoml.models.get(tag).path)


def champion_file(home: str | Path) -> Path:
    return Path(home) / "champion.json"


@dataclass
class Champions:
    """The champion and how it got there: ``lineage`` holds the champions in order (the last is current), ``events``
    every promotion and rollback. Change it only inside :func:`transaction`."""

    lineage: list[dict[str, Any]] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)

    @property
    def current(self) -> dict[str, Any] | None:
        return self.lineage[-1] if self.lineage else None

    @property
    def current_tag(self) -> str | None:
        return self.current["tag"] if self.current else None

    def _event(self, action: str, tag: str, previous: str | None, by: str) -> None:
        self.events.append({"action": action, "tag": tag, "previous": previous, "by": by,
                            "at": datetime.now(UTC).isoformat(timespec="seconds")})

    def promote(self, record: dict[str, Any], by: str) -> None:
        """Make ``record['tag']`` the champion."""
        self._event("promote", record["tag"], self.current_tag, by)
        self.lineage.append({**record, "promoted_at": datetime.now(UTC).isoformat(timespec="seconds")})

    def rollback(self, by: str) -> dict[str, Any]:
        """Make the previous champion the champion again; returns its record."""
        if len(self.lineage) < 2:
            raise ValueError("there is no previous champion to roll back to"
                             + (f" ({self.current_tag} is the first)" if self.current else ""))
        dropped = self.lineage.pop()
        self._event("rollback", self.lineage[-1]["tag"], dropped["tag"], by)
        return self.lineage[-1]


def _read(home: str | Path) -> Champions:
    path = champion_file(home)
    if not path.is_file():
        return Champions()
    data = json.loads(path.read_text())
    return Champions(data.get("lineage", []), data.get("events", []))


def champion(home: str | Path) -> dict[str, Any] | None:
    """The current champion's record (tag, metrics, test split, ...), or None."""
    return _read(home).current


def history(home: str | Path) -> Champions:
    """The champions so far and every promotion and rollback (a snapshot; read without the lock)."""
    return _read(home)


@contextmanager
def transaction(home: str | Path) -> Iterator[Champions]:
    """The champion state under an exclusive lock across processes, written atomically (one rename) at the end of
    the block if it changed. Compare with the champion and promote inside one transaction: a concurrent promotion
    waits, and a kill at any point leaves either the old state or the new one whole."""
    path = champion_file(home)
    with locked(path):
        state = _read(home)
        before = json.dumps(asdict(state), sort_keys=True)
        yield state
        if json.dumps(asdict(state), sort_keys=True) != before:
            write_json(path, asdict(state))


def model_info(tag: str) -> dict[str, Any]:
    """Tag, creation time, path, labels and metadata of a stored model."""
    import bentoml

    model = bentoml.models.get(tag)
    return {"tag": str(model.tag), "created": model.info.creation_time.isoformat(timespec="seconds"),
            "path": model.path, "labels": dict(model.info.labels), "metadata": dict(model.info.metadata)}


def promotion(home: str | Path, tag: str) -> dict[str, Any] | None:
    """When, how (``promote`` or ``rollback``) and by whom model ``tag`` last became the champion of ``home``."""
    made = [e for e in _read(home).events if e["tag"] == tag and e["action"] in ("promote", "rollback")]
    return {k: made[-1][k] for k in ("action", "at", "by")} if made else None


def report_plots(home: str | Path, tag: str) -> dict[str, Path]:
    """The ROC curves and the chosen candidate's confusion matrix of the evaluation report of the run that trained
    model ``tag``: the model's own copy, else the run's folder (``<home>/runs/<run>/evaluation``, written by
    genre.evaluation.report) for models packaged before they carried one; those that exist."""
    info = model_info(tag)
    folders = [Path(info["path"]) / PLOTS_DIR]
    if info["metadata"].get("run"):
        folders.append(Path(home) / "runs" / str(info["metadata"]["run"]) / "evaluation")
    found = {name: next((f / file for f in folders if (f / file).is_file()), None)
             for name, file in REPORT_PLOTS.items()}
    return {name: path for name, path in found.items() if path is not None}


def champion_data_version(home: str | Path) -> str | None:
    """The data version the champion of ``home`` learnt from (its model's metadata), or None without a champion.

    Reads the BentoML store :func:`use_store` points at."""
    record = champion(home)
    return model_info(record["tag"])["metadata"].get("data_version") if record else None


def list_models(name: str) -> list[dict[str, Any]]:
    """Every stored version of model ``name``, newest first."""
    import bentoml

    models = [m for m in bentoml.models.list() if m.tag.name == name]
    return [model_info(str(m.tag)) for m in sorted(models, key=lambda m: m.info.creation_time, reverse=True)]


def source_commit() -> str:
    """The git commit of the code that trained (``unknown`` outside a git checkout), ``+dirty`` with local changes."""
    import subprocess

    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=PROJECT_ROOT, capture_output=True, text=True,
                              check=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=PROJECT_ROOT,
                               capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return head + ("+dirty" if dirty else "")


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
            include=["genre/**/*.py", "services/**/*.py", "services/page/files/*"],
            args={"model_tag": tag},
            python={"packages": _runtime_packages()},
            labels={"model": tag.replace(":", "-")},
            description=BENTO_DESCRIPTION.format(tag=tag),
        )
    finally:
        sys.modules.pop(SERVICE.split(":")[0], None)
    return str(bento.tag)


def bento_for(tag: str, name: str) -> str:
    """The newest Bento already built for model ``tag``, else a new one (a model promoted by hand has none yet)."""
    import bentoml

    label = tag.replace(":", "-")
    built = [b for b in bentoml.bentos.list() if b.info.labels.get("model") == label]
    if built:
        return str(max(built, key=lambda b: b.info.creation_time).tag)
    return build_bento(tag, name)


def _runtime_packages() -> list[str]:
    from importlib.metadata import PackageNotFoundError, version

    names = ["librosa", "scikit-learn", "xgboost-cpu", "tensorflow-cpu", "soundfile", "imageio-ffmpeg", "pillow",
             "matplotlib", "pydantic", "joblib", "pandas", "fastapi"]
    out = []
    for n in names:
        try:
            out.append(f"{n}=={version(n)}")
        except PackageNotFoundError:
            out.append(n)
    return out
