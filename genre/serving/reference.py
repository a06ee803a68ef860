"""What a model learnt from, saved with it: the mean feature vector of (a sample of) its training clips and the
share of each genre among them. The monitor compares the served clips with it (drift)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from genre.atomic import atomic_path
from genre.metrics.scores import clip_mean

REFERENCE_FILE = "reference.npz"
MAX_CLIPS = 1000  # a larger training set is sampled down to this many clips (KS tests need no more)


@dataclass(frozen=True)
class Reference:
    """Feature ``names``, one row of clip-mean ``features`` per training clip (sampled), and ``genres``: the share
    of each genre among the training clips."""

    names: list[str]
    features: np.ndarray
    genres: dict[str, float]

    @classmethod
    def learn(cls, features: np.ndarray, clips: np.ndarray, y: np.ndarray, names: list[str], labels: list[str],
              max_clips: int = MAX_CLIPS, seed: int = 0) -> Reference:
        """From segment ``features`` with their clip ids and integer labels (as :class:`genre.models.train.Split`
        holds them): each clip's mean segment, the genre shares over clips."""
        if len(features) == 0:
            raise ValueError("no training segments to learn a reference from")
        _, means = clip_mean(np.asarray(features, dtype=np.float64), clips)
        _, onehot = clip_mean(np.eye(len(labels))[np.asarray(y)], clips)
        shares = onehot.round().mean(axis=0)
        if len(means) > max_clips:
            means = means[np.sort(np.random.default_rng(seed).choice(len(means), max_clips, replace=False))]
        return cls(list(names), means.astype(np.float32), {g: float(s) for g, s in zip(labels, shares)})

    def save(self, folder: str | Path) -> Path:
        path = Path(folder) / REFERENCE_FILE
        with atomic_path(path, suffix=".npz") as tmp:
            with open(tmp, "wb") as handle:
                np.savez_compressed(handle, names=np.array(self.names), features=self.features,
                                    genres=np.array(list(self.genres)),
                                    shares=np.array(list(self.genres.values())))
        return path

    @classmethod
    def load(cls, folder: str | Path) -> Reference | None:
        """The reference saved in ``folder``, or None for a model saved before references were."""
        path = Path(folder) / REFERENCE_FILE
        if not path.is_file():
            return None
        with np.load(path, allow_pickle=False) as data:
            return cls([str(n) for n in data["names"]], data["features"],
                       {str(g): float(s) for g, s in zip(data["genres"], data["shares"])})
