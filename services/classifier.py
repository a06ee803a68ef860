"""BentoML service: ``POST /classify``, ``POST /classify_batch`` and ``GET /model`` for the champion ensemble.

The model is the Bento argument ``model_tag`` (a built Bento carries it; `bentoml serve
--arg model_tag=NAME:VERSION` overrides it), else the champion named by
``$GENRE_HOME/champion.json``. Limits and the optional bearer token come from ``[serve]``
(see :func:`services.http.serve_settings`); BentoML adds ``/livez``, ``/readyz`` and ``/metrics``.
"""

from __future__ import annotations

import os
from dataclasses import asdict
from http import HTTPStatus
from pathlib import Path
from typing import Any, ClassVar

import bentoml
from fastapi import FastAPI
from pydantic import Field

from genre.serving.registry import champion, model_info, use_store
from services.http import SEND, Guard, Refused, Upload, client_name, serve_settings

_HOME = os.environ.get("GENRE_HOME", ".genre")
if "BENTOML_HOME" not in os.environ:
    use_store(_HOME)

SETTINGS = serve_settings()
FORMATS = "wav, flac, mp3, ogg or au (m4a where ffmpeg is installed)"
LIMITS = (f"At most {SETTINGS.max_upload_mb:g} MB per request (413 beyond, serve.max_upload_mb); files longer than "
          f"{SETTINGS.max_seconds:g} s are " + ("refused with 413" if SETTINGS.over_duration == "refuse" else
                                                "analysed over their first seconds only ('truncated': true)")
          + " (serve.max_seconds, serve.over_duration).")
_SEGMENTS = "true: also each segment's start, end and probabilities"


def _model_tag() -> str:
    tag = getattr(bentoml.use_arguments(), "model_tag", None)
    if tag:
        return tag
    record = champion(_HOME)
    if record is None:
        raise RuntimeError(f"no champion model in {_HOME}: run `genre run` first, or pass --arg model_tag=TAG")
    return record["tag"]


class ClassifyInput(Upload):
    more_files: ClassVar[str] = "send several to /classify_batch"
    audio: Path = Field(description=f"the audio file: {FORMATS}. {LIMITS}")
    segments: bool = Field(False, description=_SEGMENTS)


class BatchInput(Upload):
    max_files: ClassVar[int] = SETTINGS.max_batch_files
    more_files: ClassVar[str] = "send the others in another request (serve.max_batch_files)"
    audio: list[Path] = Field(description=f"up to {SETTINGS.max_batch_files} audio files (serve.max_batch_files), "
                                          f"each a {FORMATS}; a bad file fails alone. {LIMITS}")
    segments: bool = Field(False, description=_SEGMENTS)


model_app = FastAPI(title="genre model", docs_url=None, redoc_url=None, openapi_url=None)


@bentoml.service(name="genre-classifier", traffic={"timeout": SETTINGS.timeout}, threads=SETTINGS.threads,
                 http={"host": SETTINGS.host, "port": SETTINGS.port})
@bentoml.asgi_app(model_app, path="/")
class GenreClassifier:
    """Classifies uploaded audio with the champion ensemble."""

    model = bentoml.models.BentoModel(_model_tag())

    def __init__(self) -> None:
        import numpy as np

        from genre.serving.predictor import Predictor

        self.predictor = Predictor.load(self.model.path)
        self.tag = str(self.model.tag)
        rate = self.predictor.features.sample_rate
        warmup = np.random.default_rng(0).standard_normal(3 * rate).astype(np.float32) * 0.1
        self.predictor.classify_signal(warmup)  # compile the forward pass before the first request

    @bentoml.api(input_spec=ClassifyInput)
    def classify(self, audio: Path, segments: bool = False) -> dict[str, Any]:
        """Top genre, a probability per genre, the seconds analysed (and whether the file was longer), the model's
        tag, the features outside the model's training ranges (a hint that the clip is unlike anything it learnt
        from) and, on request, each segment's probabilities. 400: not usable audio; 413: too large or too long;
        415: not multipart/form-data; 401: a token is required."""
        return self._answer(audio, segments)

    @bentoml.api(input_spec=BatchInput)
    def classify_batch(self, audio: list[Path], segments: bool = False) -> list[dict[str, Any]]:
        """One answer per file, in order: that of /classify, or {"file", "error", "status"} for a file that
        cannot be classified (the others are classified all the same)."""
        answers = []
        for path in audio:
            try:
                answers.append(self._answer(path, segments))
            except Refused as exc:
                answers.append({"file": client_name(path), "error": str(exc), "status": exc.error_code.value})
        return answers

    @model_app.get("/model")
    def model_info(self) -> dict[str, Any]:
        """The served model: tag, genres, its metadata as stored in the registry, and the request limits."""
        stored = {k: v for k, v in model_info(self.tag).items() if k != "path"}  # no server paths
        limits = SETTINGS.model_dump(include={"max_upload_mb", "max_seconds", "over_duration", "max_batch_files"})
        return {**stored, "genres": list(self.predictor.labels), "limits": limits}

    def _answer(self, path: Path, segments: bool) -> dict[str, Any]:
        """Classify one uploaded file; :class:`Refused` (400 or 413) names the client's file and says why."""
        from genre.data.audio import AudioError

        name = client_name(path)
        try:
            y, cut = self.predictor.decode(path, SETTINGS.max_seconds)
            if cut and SETTINGS.over_duration == "refuse":
                raise Refused(f"{name}: longer than the limit of {SETTINGS.max_seconds:g} s (serve.max_seconds): "
                              "send a shorter excerpt", HTTPStatus.REQUEST_ENTITY_TOO_LARGE)
            result = self.predictor.classify_signal(y, name)
        except (AudioError, ValueError) as exc:
            reason = str(exc).replace(str(path), name).replace(path.name, name)
            raise Refused(f"cannot classify {reason}. {SEND}.") from exc
        answer = {"file": name, "genre": result.genre, "probabilities": result.probabilities, "model": self.tag,
                  "duration_analysed": result.seconds, "truncated": cut,
                  "unusual_features": result.unusual_features}
        if segments:
            answer["segments"] = [asdict(s) for s in result.segments]
        return answer


GenreClassifier.add_asgi_middleware(
    Guard, max_bytes=int(SETTINGS.max_upload_mb * 2**20), token=SETTINGS.token,
    protected=frozenset({*(api.route for api in GenreClassifier.apis.values()), "/model"}))
