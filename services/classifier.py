"""BentoML service: ``POST /classify`` with an audio upload -> top genre and probabilities.

The model is the Bento argument ``model_tag`` (a built Bento carries it; `bentoml serve
--arg model_tag=NAME:VERSION` overrides it), else the champion named by
``$GENRE_HOME/champion.json``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import bentoml
from bentoml.exceptions import InvalidArgument

from genre.serving.registry import champion, use_store

_HOME = os.environ.get("GENRE_HOME", ".genre")
if "BENTOML_HOME" not in os.environ:
    use_store(_HOME)


def _model_tag() -> str:
    tag = getattr(bentoml.use_arguments(), "model_tag", None)
    if tag:
        return tag
    record = champion(_HOME)
    if record is None:
        raise RuntimeError(f"no champion model in {_HOME}: run `genre run` first, or pass --arg model_tag=TAG")
    return record["tag"]


@bentoml.service(name="genre-classifier", traffic={"timeout": 120}, threads=2)
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

    @bentoml.api
    def classify(self, audio: Path) -> dict[str, Any]:
        """Top genre, a probability per genre, the model's tag, and the features that lie outside the
        model's training ranges (a hint that the clip is unlike anything it learnt from)."""
        from genre.data.audio import AudioError

        try:
            result = self.predictor.classify_file(audio)
        except (AudioError, ValueError) as exc:
            reason = str(exc).replace(str(audio), audio.name)
            raise InvalidArgument(f"cannot classify the upload: {reason}. Send a wav, flac, mp3 or ogg file.") from exc
        return {"genre": result.genre, "probabilities": result.probabilities, "model": self.tag,
                "unusual_features": result.unusual_features}
