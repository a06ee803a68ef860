"""One typed configuration for every stage.

Values come, in rising priority, from the defaults below, a TOML file
(``--config genre.toml``), ``GENRE_*`` environment variables for the paths and
keyword overrides (CLI flags, flow parameters). The hash of the parts a stage
depends on is part of that stage's cache keys.
"""

from __future__ import annotations

import hashlib
import json
import os
import tomllib
from pathlib import Path
from typing import Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    def digest(self) -> str:
        """A short, stable hash of this section's values."""
        blob = json.dumps(self.model_dump(mode="json"), sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()[:12]


class IngestConfig(_Section):
    """Limits applied when audio enters the store, and how URL downloads behave."""

    max_file_mb: float = 200.0
    max_duration: float = 900.0
    sample_rate: int = Field(22050, gt=0)  # downloads are converted to this rate
    audio_format: Literal["flac", "wav"] = "flac"  # the one lossless format downloads are stored in
    parallelism: int = Field(4, ge=1)  # downloads at once
    rate_limit: str | None = None  # per download, yt-dlp syntax: "500K", "2M" (bytes/s)
    timeout: float = Field(30.0, gt=0)  # seconds a connection may stay silent before the item fails
    max_item_seconds: float = Field(900.0, gt=0)  # wall time one download may take
    retries: int = Field(2, ge=0)  # extra attempts after a transient (network) error
    backoff: float = Field(2.0, ge=0)  # seconds before the first retry; doubles each time
    flow_retries: int = Field(2, ge=0)  # Prefect retries of a batch still left with network errors
    flow_retry_delay: float = Field(60.0, ge=0)  # seconds between those retries
    allow_file_urls: bool = False  # file:// URLs in manifests are refused unless this is on
    youtube_url: str = "https://www.youtube.com/watch?v={ytid}"  # where YouTube ids point; a mirror works


class AudioSetConfig(_Section):
    """Which AudioSet ontology classes count as which genre, and what to do with clips tagged twice."""

    # display name in class_labels_indices.csv -> genre label; order is priority for multi_label="first"
    genres: dict[str, str] = {
        "Pop music": "pop", "Rock music": "rock", "Hip hop music": "hip-hop", "Techno": "techno",
        "Rhythm and blues": "rhythm-and-blues", "Vocal music": "vocal", "Reggae": "reggae",
    }
    # "drop": a clip whose tags map to two or more genres is left out (counted as ambiguous);
    # "first": it takes the genre listed first in ``genres``
    multi_label: Literal["drop", "first"] = "drop"


class FeatureConfig(_Section):
    """Decoding, segmentation and spectral parameters of features and mel images."""

    sample_rate: int = 22050
    segment_seconds: float = 3.0
    segment_overlap: float = Field(0.5, ge=0.0, lt=1.0)
    n_fft: int = 2048
    hop_length: int = 512
    n_mels: int = 96
    n_mfcc: int = 20
    preemphasis: float = 0.97
    top_db: float = 80.0
    # The one minimum length, for training (shorter catalog items are quarantined) and serving (400). A clip
    # between this and one segment is repeated end to end to fill one segment, the same way in both.
    min_seconds: float = Field(1.0, gt=0.0)


class ValidationConfig(_Section):
    """Thresholds of the Great Expectations suites (catalog, audio content, features)."""

    min_clips_per_genre: int = 3
    max_class_ratio: float = 5.0
    max_failed_share: float = 0.2
    max_duration: float = 900.0
    sample_rates: tuple[int, ...] = (8000, 11025, 16000, 22050, 24000, 32000, 44100, 48000, 88200, 96000, 176400,
                                     192000)
    max_channels: int = 2
    min_rms: float = 1e-3  # about -60 dBFS: quieter clips count as silent
    full_scale: float = 0.999  # a sample at or above this magnitude counts as clipped
    max_clipped_share: float = 0.01
    max_length_mismatch: float = 0.02  # decoded length vs the catalog's duration: more means truncated
    near_duplicate_similarity: float = Field(0.97, gt=0.0, le=1.0)  # fingerprint cosine similarity
    feature_range_margin: float = 0.1  # learnt ranges widened by this share of their span on each side
    max_out_of_range_share: float = Field(0.05, ge=0.0, le=1.0)  # per feature column, held-out rows


class SplitConfig(_Section):
    """Frozen train/validation/test split, grouped by clip."""

    validation: float = 0.2
    test: float = 0.2
    seed: int = 42


class ClassicalConfig(_Section):
    """Classical models and their hyperparameter search.

    ``search_iterations`` is the budget: candidates per model (the first is the defaults). The demo default is
    small; use 20-40 for real runs. ``imbalance``: ``balanced`` sample weights, or random ``oversample`` /
    ``undersample`` of training folds (never of validation or test), or ``none``.
    """

    models: tuple[Literal["svm", "logreg", "random_forest", "xgboost"], ...] = (
        "svm", "logreg", "random_forest", "xgboost")
    search_iterations: int = Field(4, ge=1)
    cv_folds: int = Field(3, ge=2)
    calibration_folds: int = Field(3, ge=2)
    imbalance: Literal["balanced", "oversample", "undersample", "none"] = "balanced"
    bootstrap: int = Field(1000, ge=100)
    seed: int = 42


class CNNConfig(_Section):
    """VGG16 on mel-spectrogram images: from scratch (``weights = "none"``) or transfer from pretrained weights."""

    weights: str = "none"  # "none" (from scratch), "imagenet", or a VGG16 no-top weights file
    precision: Literal["auto", "bfloat16", "float32"] = "auto"  # auto: bf16 where the hardware has bf16 instructions
    # From scratch, the defaults fit the demo on 2 cores (make run under 5 minutes): small images, small batches
    # (more steps per epoch on a few hundred segments), Adam warmed up over the first epoch, then cosine-decayed.
    # Real music: configs/vgg16-gtzan.toml.
    image_size: int = 32
    epochs: int = 12  # of full training from scratch
    batch_size: int = 8
    learning_rate: float = 2e-4  # peak, after one epoch of warmup (from scratch; transfer heads use their own)
    dropout: float = Field(0.3, ge=0.0, lt=1.0)
    patience: int = Field(6, ge=1)  # epochs without a better validation clip ROC-AUC before stopping
    head_epochs: int = Field(60, ge=1)  # transfer: epochs of the head on the cached base outputs (seconds)
    head_learning_rate: float = 1e-3
    fine_tune_epochs: int = Field(0, ge=0)  # transfer: then fine-tune block5 for this many epochs (0: no)
    fine_tune_learning_rate: float = 1e-5
    seed: int = 42


class EnsembleConfig(_Section):
    """Candidates combining the members (each classical model, VGG16), chosen on held-apart clips.

    ``methods``: ``member`` (each alone), ``average`` (plain mean), ``weighted`` (weights on a 0.25 grid) and
    ``stacking`` (logistic regression on the members' log-probabilities); weights and stackers are cross-fitted
    over the held-apart clips in ``folds`` folds, so no candidate is scored on clips it was tuned on.
    """

    methods: tuple[Literal["member", "average", "weighted", "stacking"], ...] = (
        "member", "average", "weighted", "stacking")
    folds: int = Field(5, ge=2)
    seed: int = 42


class GateConfig(_Section):
    """Promotion rule: clear the floor and beat the champion re-scored on the same test clips.

    ``bootstrap`` resamples of the test clips give the 95% interval of candidate minus champion (a record, not a rule).
    """

    min_roc_auc: float = 0.75
    min_improvement: float = 0.0
    bootstrap: int = Field(1000, ge=100)


class ServeConfig(_Section):
    """Limits and access of the HTTP service (`genre serve`); the bearer token can also come from GENRE_SERVE_TOKEN."""

    host: str = "127.0.0.1"  # another address (0.0.0.0: every interface) only on purpose
    port: int = Field(3000, ge=1, le=65535)
    max_upload_mb: float = Field(50.0, gt=0)  # one request's body, files and form together; more: 413
    max_seconds: float = Field(120.0, gt=0)  # of audio analysed per file
    over_duration: Literal["truncate", "refuse"] = "truncate"  # longer files: analyse the start, or answer 413
    max_batch_files: int = Field(16, ge=1)  # files in one /classify_batch request
    token: str | None = None  # bearer token the API requires; None: no authentication
    threads: int = Field(2, ge=1)  # requests one worker analyses at once
    timeout: float = Field(120.0, gt=0)  # seconds one request may take


class Config(BaseModel):
    """Everything a pipeline run needs."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    home: Path = Field(default_factory=lambda: Path(os.environ.get("GENRE_HOME", ".genre")))
    model_name: str = "genre-classifier"
    genres: tuple[str, ...] | None = None
    workers: int = Field(default_factory=lambda: os.cpu_count() or 1, ge=1)
    # Where the feature tasks run: a local process pool of ``workers`` by default; an existing
    # Dask cluster at ``dask_address`` ("tcp://host:port"); or, with ``dask_local``, a temporary
    # local Dask cluster of ``workers`` processes.
    dask_address: str | None = Field(None, pattern=r"^(tcp|tls|ucx|ws|wss)://[^/]+:\d+$")
    dask_local: bool = False
    ingest: IngestConfig = IngestConfig()
    audioset: AudioSetConfig = AudioSetConfig()
    features: FeatureConfig = FeatureConfig()
    validation: ValidationConfig = ValidationConfig()
    split: SplitConfig = SplitConfig()
    classical: ClassicalConfig = ClassicalConfig()
    cnn: CNNConfig = CNNConfig()
    ensemble: EnsembleConfig = EnsembleConfig()
    gate: GateConfig = GateConfig()
    serve: ServeConfig = ServeConfig()

    @model_validator(mode="after")
    def _one_executor(self) -> Config:
        if self.dask_address and self.dask_local:
            raise ValueError("give either dask_address (an existing cluster) or dask_local (a temporary one), not both")
        return self

    @property
    def store_dir(self) -> Path:
        return self.home / "store"

    @property
    def catalog_path(self) -> Path:
        return self.home / "catalog.sqlite"

    @property
    def download_dir(self) -> Path:
        return self.home / "downloads"

    @property
    def feature_cache(self) -> Path:
        return self.home / "features"

    @property
    def profile_cache(self) -> Path:
        return self.home / "profiles"

    @property
    def feature_sets(self) -> Path:
        return self.home / "feature-sets"

    @property
    def split_file(self) -> Path:
        return self.home / "splits.json"

    @property
    def runs_dir(self) -> Path:
        return self.home / "runs"


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def nest(overrides: dict[str, Any]) -> dict[str, Any]:
    """Dotted keys (``{"cnn.epochs": 2}``) as nested dicts (``{"cnn": {"epochs": 2}}``); ``None`` values dropped."""
    nested: dict[str, Any] = {}
    for key, value in overrides.items():
        if value is None:
            continue
        *parents, leaf = key.split(".")
        node = nested
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return nested


def load_config(path: str | Path | None = None, **overrides: Any) -> Config:
    """Build a :class:`Config` from an optional TOML file and overrides.

    Overrides use nested dicts (``cnn={"epochs": 2}``) or dotted keys
    (``{"cnn.epochs": 2}``); ``None`` values are ignored.
    """
    data: dict[str, Any] = {}
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"config file {path} does not exist")
        data = tomllib.loads(path.read_text())
    return Config.model_validate(_merge(data, nest(overrides)))


class IngestSettings(BaseModel):
    """The config sections an ingestion may set (the ``ingest`` flow's parameters: a form in the Prefect UI).

    Values equal to the defaults leave those of the TOML file in place; the others override it.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    ingest: IngestConfig = Field(IngestConfig(), description="limits of stored audio; downloads: parallelism, "
                                                             "rate limit, timeouts, retries")
    audioset: AudioSetConfig = Field(AudioSetConfig(), description="AudioSet classes -> genres, clips tagged twice")

    @classmethod
    def from_dotted(cls, overrides: dict[str, Any]) -> Self:
        """Settings from dotted keys, as ``genre --set cnn.epochs=2`` gives them."""
        return cls.model_validate(nest(overrides))

    def config(self, path: str | Path | None = None, home: str | Path | None = None) -> Config:
        """The run's :class:`Config`: defaults < TOML file ``path`` < these settings (where not default)."""
        return load_config(path, home=home, **self.model_dump(exclude_defaults=True))


class RunSettings(IngestSettings):
    """The config a pipeline or retrain run may set (its flow parameters: a form in the Prefect UI)."""

    model_name: str = Field("genre-classifier", description="name of the BentoML model and Bento")
    workers: int | None = Field(None, ge=1, description="processes for features and searches; empty: one per core")
    genres: tuple[str, ...] | None = Field(None, description="train on these genres only; empty: every genre")
    dask_address: str | None = Field(None, pattern=r"^(tcp|tls|ucx|ws|wss)://[^/]+:\d+$",
                                     description="run the feature tasks on this Dask cluster (tcp://host:port)")
    dask_local: bool = Field(False, description="run the feature tasks on a temporary local Dask cluster")
    features: FeatureConfig = Field(FeatureConfig(), description="decoding, segments and spectral parameters")
    validation: ValidationConfig = Field(ValidationConfig(), description="thresholds of the data checks")
    split: SplitConfig = Field(SplitConfig(), description="shares of the frozen validation and test splits")
    classical: ClassicalConfig = Field(ClassicalConfig(), description="classical models and their search budget")
    cnn: CNNConfig = Field(CNNConfig(), description="VGG16: weights, precision, image size, epochs")
    ensemble: EnsembleConfig = Field(EnsembleConfig(), description="how members are combined")
    gate: GateConfig = Field(GateConfig(), description="promotion rule: ROC-AUC floor, improvement over the champion")
