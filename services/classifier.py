"""BentoML service: ``POST /classify``, ``POST /classify_batch``, ``POST /feedback`` and ``GET /model`` for the
champion ensemble. Every answer is logged off the request path (:mod:`genre.serving.prediction_log`).

The model is the Bento argument ``model_tag`` (a built Bento carries it; `bentoml serve
--arg model_tag=NAME:VERSION` overrides it), else the champion named by
``$GENRE_HOME/champion.json``. Limits and the optional bearer token come from ``[serve]``
(see :func:`services.http.serve_settings`); BentoML adds ``/livez``, ``/readyz`` and ``/metrics``.
"""

from __future__ import annotations

import atexit
import os
import time
from dataclasses import asdict
from http import HTTPStatus
from pathlib import Path
from typing import Any, ClassVar

import bentoml
from fastapi import FastAPI
from fastapi.responses import FileResponse, JSONResponse, Response
from pydantic import Field

from genre.serving.prediction_log import PredictionLog, is_logged, new_request_id, now
from genre.serving.registry import champion, model_info, promotion, report_plots, use_store
from services.http import SEND, Guard, Refused, Upload, client_name, serve_settings
from services.page import page_app

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


class FeedbackInput(bentoml.IODescriptor):
    """A JSON body only (any other type: 415, before BentoML's parsers see it)."""

    request_id: str = Field(description="the request_id of an answer of /classify or /classify_batch")
    genre: str = Field(description="the true genre of that clip, one of the model's genres (GET /model)")

    @classmethod
    async def from_http_request(cls, request: Any, serde: Any) -> Any:
        kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if kind != "application/json":
            raise Refused(f"a request body of type {kind or '(none)'} is not feedback: send JSON "
                          '{"request_id": "...", "genre": "..."} with Content-Type: application/json',
                          HTTPStatus.UNSUPPORTED_MEDIA_TYPE)
        return await super().from_http_request(request, serde)


def _found(request_id: str, wait: float = 1.0) -> bool:
    """Whether ``request_id`` is in the log; an answer of another worker may still sit in that worker's queue for a
    moment, so a missing id is looked for again for up to ``wait`` seconds."""
    deadline = time.monotonic() + wait
    while not is_logged(_HOME, request_id):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


model_app = FastAPI(title="genre model", docs_url=None, redoc_url=None, openapi_url=None)


@bentoml.service(name="genre-classifier", traffic={"timeout": SETTINGS.timeout}, workers=SETTINGS.workers,
                 threads=SETTINGS.threads,
                 http={"host": SETTINGS.host, "port": SETTINGS.port})
@bentoml.asgi_app(model_app, path="/")
@bentoml.asgi_app(page_app, path="/")  # the page at /, the API description at /docs
class GenreClassifier:
    """Classifies uploaded audio with the champion ensemble."""

    model = bentoml.models.BentoModel(_model_tag())

    def __init__(self) -> None:
        import numpy as np

        from genre.serving.predictor import Predictor
        from genre.threads import one_blas_thread

        self.predictor = Predictor.load(self.model.path)
        self.tag = str(self.model.tag)
        one_blas_thread()  # requests run side by side (serve.workers, serve.threads), each on one BLAS thread
        rate = self.predictor.features.sample_rate
        warmup = np.random.default_rng(0).standard_normal(3 * rate).astype(np.float32) * 0.1
        self.predictor.classify_signal(warmup)  # compile the forward pass before the first request
        self.log = PredictionLog(_HOME, SETTINGS.log_retention_days, SETTINGS.log_audio, rate) if SETTINGS.log else None
        if self.log is not None:
            atexit.register(self.log.close)  # what is still queued is written when the worker stops

    @bentoml.api(input_spec=ClassifyInput)
    def classify(self, audio: Path, segments: bool = False) -> dict[str, Any]:
        """Top genre, a probability per genre, the seconds analysed (and whether the file was longer), the model's
        tag, the features outside the model's training ranges (a hint that the clip is unlike anything it learnt
        from), the request_id (for /feedback) and, on request, each segment's probabilities. 400: not usable audio;
        413: too large or too long; 415: not multipart/form-data; 401: a token is required."""
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

    @bentoml.api(input_spec=FeedbackInput)
    def feedback(self, request_id: str, genre: str) -> dict[str, Any]:
        """Store the true genre of an answered clip beside the prediction log; the monitor scores live accuracy
        with it. 400: an unknown request id or genre, or no prediction log (serve.log = false); 415: not JSON."""
        if genre not in self.predictor.labels:
            raise Refused(f"unknown genre {genre[:60]!r}: send one of {', '.join(self.predictor.labels)}")
        if self.log is None:
            raise Refused("this service keeps no prediction log (serve.log = false), so feedback cannot be stored")
        self.log.flush()  # an answer of this worker still queued is found too
        if not _found(request_id):
            raise Refused(f"unknown request id {request_id[:60]!r}: send the request_id of an answer of /classify "
                          f"or /classify_batch (kept {SETTINGS.log_retention_days} days)")
        self.log.feedback(request_id, genre)
        return {"request_id": request_id, "genre": genre, "stored": True}

    @model_app.get("/model")
    def model_info(self) -> dict[str, Any]:
        """The served model: tag, genres, its metadata as stored in the registry, and the request limits."""
        stored = {k: v for k, v in model_info(self.tag).items() if k != "path"}  # no server paths
        limits = SETTINGS.model_dump(include={"max_upload_mb", "max_seconds", "over_duration", "max_batch_files"})
        return {**stored, "genres": list(self.predictor.labels), "limits": limits,
                "promotion": promotion(_HOME, self.tag)}

    @model_app.get("/model/{plot}.png", include_in_schema=False)
    def model_plot(self, plot: str) -> Response:
        """``roc`` or ``confusion``: a PNG of the served model's evaluation report (404 where the training run's
        folder is not on this machine)."""
        path = report_plots(_HOME, self.tag).get(plot)
        if path is None:
            return JSONResponse({"error": f"no plot {plot[:40]!r} of the model's evaluation here: 'roc' and "
                                          "'confusion' stay with the training run (genre run) that made it"}, 404)
        return FileResponse(path, media_type="image/png")

    def _answer(self, path: Path, segments: bool) -> dict[str, Any]:
        """Classify one uploaded file; :class:`Refused` (400 or 413) names the client's file and says why."""
        from genre.data.audio import AudioError

        name, started = client_name(path), time.perf_counter()
        try:
            y, cut = self.predictor.decode(path, SETTINGS.max_seconds)
            if cut and SETTINGS.over_duration == "refuse":
                raise Refused(f"{name}: longer than the limit of {SETTINGS.max_seconds:g} s (serve.max_seconds): "
                              "send a shorter excerpt", HTTPStatus.REQUEST_ENTITY_TOO_LARGE)
            result = self.predictor.classify_signal(y, name)
        except (AudioError, ValueError) as exc:
            reason = str(exc).replace(str(path), name).replace(path.name, name)
            raise Refused(f"cannot classify {reason}. {SEND}.") from exc
        request_id = new_request_id()
        answer = {"file": name, "genre": result.genre, "probabilities": result.probabilities, "model": self.tag,
                  "duration_analysed": result.seconds, "truncated": cut,
                  "unusual_features": result.unusual_features, "request_id": request_id}
        if self.log is not None:
            self.log.predicted({"id": request_id, "at": now().isoformat(), "model": self.tag,
                                "seconds": round(time.perf_counter() - started, 4), "audio_seconds": result.seconds,
                                "truncated": cut, "genre": result.genre, "probabilities": result.probabilities,
                                "unusual": result.unusual_features, "features": result.features}, y)
        if segments:
            answer["segments"] = [asdict(s) for s in result.segments]
        return answer


GenreClassifier.add_asgi_middleware(
    Guard, max_bytes=int(SETTINGS.max_upload_mb * 2**20), token=SETTINGS.token,
    protected=frozenset({*(api.route for api in GenreClassifier.apis.values()), "/model", "/model/roc.png",
                         "/model/confusion.png"}))
