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

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator, model_validator


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    def digest(self) -> str:
        """A short, stable hash of this section's values."""
        blob = json.dumps(self.model_dump(mode="json"), sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()[:12]


class IngestConfig(_Section):
    """Limits applied when audio enters the store, and how URL downloads behave."""

    max_file_mb: float = Field(200.0, description="larger files are refused (MB)")
    max_duration: float = Field(900.0, description="longer audio is refused (seconds)")
    sample_rate: int = Field(22050, gt=0, description="downloads are converted to this rate (Hz)")
    audio_format: Literal["flac", "wav"] = Field("flac", description="the one lossless format downloads are kept in")
    parallelism: int = Field(4, ge=1, description="downloads at once")
    rate_limit: str | None = Field(None, description='per download, yt-dlp syntax: "500K", "2M" (bytes/s); empty: none')
    timeout: float = Field(30.0, gt=0, description="seconds a connection may stay silent before the item fails")
    max_item_seconds: float = Field(900.0, gt=0, description="wall time one download may take (seconds)")
    retries: int = Field(2, ge=0, description="extra attempts after a transient (network) error")
    backoff: float = Field(2.0, ge=0, description="seconds before the first retry; doubles each time")
    flow_retries: int = Field(2, ge=0, description="Prefect retries of a batch still left with network errors")
    flow_retry_delay: float = Field(60.0, ge=0, description="seconds between those retries")
    allow_file_urls: bool = Field(False, description="accept file:// URLs in manifests (refused by default)")
    youtube_url: str = Field("https://www.youtube.com/watch?v={ytid}", description="where YouTube ids point: a mirror "
                                                                                   "or a local server works")


class AudioSetConfig(_Section):
    """Which AudioSet ontology classes count as which genre, and what to do with clips tagged twice."""

    genres: dict[str, str] = Field({
        "Pop music": "pop", "Rock music": "rock", "Hip hop music": "hip-hop", "Techno": "techno",
        "Rhythm and blues": "rhythm-and-blues", "Vocal music": "vocal", "Reggae": "reggae",
    }, description="display name in class_labels_indices.csv -> genre; the order is the priority for 'first'")
    multi_label: Literal["drop", "first"] = Field("drop", description="a clip whose tags map to two or more genres: "
                                                                      "left out (drop) or given the first (first)")


class FeatureConfig(_Section):
    """Decoding, segmentation and spectral parameters of features and mel images."""

    sample_rate: int = Field(22050, description="audio is decoded at this rate (Hz)")
    segment_seconds: float = Field(3.0, description="length of the segments a clip is cut into (seconds)")
    segment_overlap: float = Field(0.5, ge=0.0, lt=1.0, description="share of a segment the next one overlaps")
    n_fft: int = Field(2048, description="STFT window (samples)")
    hop_length: int = Field(512, description="STFT hop (samples)")
    n_mels: int = Field(96, description="mel bands of the mel images and features")
    n_mfcc: int = Field(20, description="MFCCs per frame")
    preemphasis: float = Field(0.97, description="pre-emphasis coefficient applied to the spectrum")
    top_db: float = Field(80.0, description="dynamic range of the mel images: floor in dB below the clip's maximum")
    min_seconds: float = Field(1.0, gt=0.0, description="shortest clip trained on (shorter: quarantined) and served "
                                                        "(400); up to one segment long it is repeated to fill one")


class ValidationConfig(_Section):
    """Thresholds of the Great Expectations suites (catalog, audio content, features).

    A warning quarantines the items it names (left out of training); a critical failure stops the run.
    """

    min_clips_per_genre: int = Field(3, description="fewer usable clips of a genre: critical")
    max_class_ratio: float = Field(5.0, description="largest genre over the smallest beyond this: warning")
    max_failed_share: float = Field(0.2, description="share of failed catalog items beyond this: critical")
    max_duration: float = Field(900.0, description="longer clips: warning (seconds)")
    sample_rates: tuple[int, ...] = Field((8000, 11025, 16000, 22050, 24000, 32000, 44100, 48000, 88200, 96000,
                                           176400, 192000), description="other sample rates: warning")
    max_channels: int = Field(2, description="more channels: warning")
    min_rms: float = Field(1e-3, description="quieter clips count as silent: warning (RMS; 1e-3 is about -60 dBFS)")
    full_scale: float = Field(0.999, description="a sample at or above this magnitude counts as clipped")
    max_clipped_share: float = Field(0.01, description="more clipped samples than this share: warning")
    max_length_mismatch: float = Field(0.02, description="decoded length vs the catalog's duration: more means "
                                                         "truncated (warning)")
    near_duplicate_similarity: float = Field(0.97, gt=0.0, le=1.0, description="fingerprint cosine similarity from "
                                                                               "which clips are near duplicates")
    feature_range_margin: float = Field(0.1, description="learnt feature ranges widened by this share of their span")
    max_out_of_range_share: float = Field(0.05, ge=0.0, le=1.0, description="per feature column: share of held-out "
                                                                            "rows allowed outside the ranges")


class SplitConfig(_Section):
    """Frozen train/validation/test split, grouped by clip."""

    validation: float = Field(0.2, description="share of clips held out to choose models and the ensemble")
    test: float = Field(0.2, description="share of clips in the frozen test split the gate scores on")
    seed: int = Field(42, description="seed of the split (frozen in splits.json once made)")


class ClassicalConfig(_Section):
    """Classical models and their hyperparameter search.

    ``search_iterations`` is the budget: candidates per model (the first is the defaults). The demo default is
    small; use 20-40 for real runs. ``imbalance``: ``balanced`` sample weights, or random ``oversample`` /
    ``undersample`` of training folds (never of validation or test), or ``none``.
    """

    models: tuple[Literal["svm", "logreg", "random_forest", "xgboost"], ...] = Field(
        ("svm", "logreg", "random_forest", "xgboost"), description="the models to tune and train")
    search_iterations: int = Field(4, ge=1, description="candidates per model, its defaults first; 20-40 for real runs")
    cv_folds: int = Field(3, ge=2, description="cross-validation folds of the search, grouped by clip or artist")
    calibration_folds: int = Field(3, ge=2, description="grouped inner folds calibrating the SVM's probabilities")
    imbalance: Literal["balanced", "oversample", "undersample", "none"] = Field(
        "balanced", description="balanced sample weights, or over- or under-sampling of training folds, or none")
    bootstrap: int = Field(1000, ge=100, description="resamples of each model's validation ROC-AUC interval")
    seed: int = Field(42, description="seed of the folds, the search and the models")


class CNNConfig(_Section):
    """VGG16 on mel-spectrogram images: from scratch (``weights = "none"``) or transfer from pretrained weights."""

    weights: str = Field("none", description='"none" (from scratch), "imagenet", or a VGG16 no-top weights file')
    precision: Literal["auto", "bfloat16", "float32"] = Field("auto", description="auto: bfloat16 where the hardware "
                                                                                  "has bf16 instructions")
    # From scratch, the defaults fit the demo on 2 cores (make run under 5 minutes): small images, small batches
    # (more steps per epoch on a few hundred segments), Adam warmed up over the first epoch, then cosine-decayed.
    # Real music: configs/vgg16-gtzan.toml.
    image_size: int = Field(32, description="side of the square network input the mel images are resized to")
    epochs: int = Field(12, description="epochs of full training from scratch")
    batch_size: int = Field(8, description="images per training step")
    learning_rate: float = Field(2e-4, description="peak, after one epoch of warmup (from scratch)")
    dropout: float = Field(0.3, ge=0.0, lt=1.0, description="dropout before the softmax layer")
    mixup: float = Field(0.0, ge=0.0, description="Beta(a, a) of mixup, blending images and targets (0: off)")
    patience: int = Field(6, ge=1, description="epochs without a better validation clip ROC-AUC before stopping")
    head_epochs: int = Field(60, ge=1, description="transfer: epochs of the head on the cached base outputs")
    head_learning_rate: float = Field(1e-3, description="transfer: learning rate of the head")
    fine_tune_epochs: int = Field(0, ge=0, description="transfer: then fine-tune block5 for this many epochs (0: no)")
    fine_tune_learning_rate: float = Field(1e-5, description="transfer: learning rate of the fine-tuning")
    seed: int = Field(42, description="seed of the initial weights, augmentation and batch order")


class EnsembleConfig(_Section):
    """Candidates combining the members (each classical model, VGG16), chosen on held-apart clips.

    ``methods``: ``member`` (each alone), ``average`` (plain mean), ``weighted`` (weights on a 0.25 grid) and
    ``stacking`` (logistic regression on the members' log-probabilities); weights and stackers are cross-fitted
    over the held-apart clips in ``folds`` folds, so no candidate is scored on clips it was tuned on.
    """

    methods: tuple[Literal["member", "average", "weighted", "stacking"], ...] = Field(
        ("member", "average", "weighted", "stacking"), description="the kinds of candidate to compare")
    folds: int = Field(5, ge=2, description="folds cross-fitting weights and stackers over the held-apart clips")
    seed: int = Field(42, description="seed of those folds")


class PretrainedConfig(_Section):
    """The pretrained member: a musicnn checkpoint's ``layer`` per segment + a tuned classical ``head``."""

    checkpoint: Literal["none", "MSD_musicnn", "MTT_musicnn", "MSD_vgg", "MTT_vgg"] = "MSD_musicnn"  # none: off
    layer: str = "max_pool"  # musicnn: taggram, timbral, temporal, cnn1-3, mean_pool, max_pool, penultimate; vgg: pool1-5
    head: Literal["svm", "logreg", "random_forest", "xgboost"] = "logreg"
    patch_every: int = Field(2, ge=1, description="a network patch at every n-th feature segment, reused by the ones "
                             "between (2, with segments overlapping by half: musicnn's own 3 s hop, half the CPU of 1)")


class GateConfig(_Section):
    """Promotion rule: clear the floor and beat the champion re-scored on the same test clips.

    ``bootstrap`` resamples of the test clips give the 95% interval of candidate minus champion (a record, not a rule).
    """

    min_roc_auc: float = Field(0.75, description="floor: the candidate's test macro ROC-AUC must reach it")
    min_improvement: float = Field(0.0, description="test ROC-AUC by which the candidate must beat the champion")
    bootstrap: int = Field(1000, ge=100, description="resamples of the candidate-minus-champion interval (a record)")


class ServeConfig(_Section):
    """Limits and access of the HTTP service (`genre serve`); the bearer token can also come from GENRE_SERVE_TOKEN."""

    host: str = "127.0.0.1"  # another address (0.0.0.0: every interface) only on purpose
    port: int = Field(3000, ge=1, le=65535)
    max_upload_mb: float = Field(50.0, gt=0)  # one request's body, files and form together; more: 413
    max_seconds: float = Field(120.0, gt=0)  # of audio analysed per file
    over_duration: Literal["truncate", "refuse"] = "truncate"  # longer files: analyse the start, or answer 413
    max_batch_files: int = Field(16, ge=1)  # files in one /classify_batch request
    token: str | None = None  # bearer token the API requires; None: no authentication
    # service processes, one per core (at most 4 unless set), each with its own copy of the model; with BLAS at one
    # thread a request uses about one core, and processes run side by side where threads of one would share the GIL
    workers: int = Field(default_factory=lambda: min(os.cpu_count() or 1, 4), ge=1)
    threads: int = Field(2, ge=1)  # requests one worker analyses at once
    timeout: float = Field(120.0, gt=0)  # seconds one request may take
    log: bool = True  # log every answer to <home>/predictions (genre.serving.prediction_log)
    log_audio: bool = False  # also the decoded audio of each request (FLAC beside the log)
    log_retention_days: int = Field(30, ge=1)  # day folders of the log older than this are deleted


class MonitorConfig(_Section):
    """The `monitor` flow. A feature (KS test) or the predicted-genre mix (chi-square) drifted at a p-value below
    ``p_value``; a retrain starts when ``drift_share`` of the features drifted or live accuracy falls
    ``accuracy_margin`` below the champion's test accuracy, at most once per ``cooldown_hours``."""

    window_days: float = Field(7.0, gt=0)  # the current data: answers of the last days
    min_requests: int = Field(50, ge=2)  # fewer answers by the champion in the window: "not enough data"
    min_feedback: int = Field(20, ge=2)  # feedback needed for live accuracy and ROC-AUC
    p_value: float = Field(0.05, gt=0, lt=1)
    drift_share: float = Field(0.5, gt=0, le=1)
    accuracy_margin: float = Field(0.1, ge=0)
    cooldown_hours: float = Field(72.0, ge=0)
    retrain_deployment: str = "retrain/weekly"  # started through the Prefect API


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
    pretrained: PretrainedConfig = PretrainedConfig()
    gate: GateConfig = GateConfig()
    serve: ServeConfig = ServeConfig()
    monitor: MonitorConfig = MonitorConfig()

    @field_validator("workers")
    @classmethod
    def _capped(cls, workers: int) -> int:
        """``GENRE_MAX_WORKERS`` caps the worker processes whatever the config asks: a shared machine, or mutation
        testing (bench/mutation.sh sets 1: a process pool hangs inside the process mutmut forks per mutant)."""
        cap = os.environ.get("GENRE_MAX_WORKERS", "").strip()
        if not cap:
            return workers
        if not cap.isdigit() or int(cap) < 1:
            raise ValueError(f"GENRE_MAX_WORKERS must be a whole number >= 1, got {cap!r}")
        return min(workers, int(cap))

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
    """A :class:`Config` from an optional TOML file and overrides: nested dicts (``cnn={"epochs": 2}``) or dotted
    keys (``{"cnn.epochs": 2}``); ``None`` values are ignored."""
    data: dict[str, Any] = {}
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"config file {path} does not exist")
        data = tomllib.loads(path.read_text())
    return Config.model_validate(_merge(data, nest(overrides)))


class IngestSettings(BaseModel):
    """The config sections an ingestion may set (the ``ingest`` flow's parameters: a form in the Prefect UI)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    ingest: IngestConfig = Field(IngestConfig(), description="limits of stored audio; downloads: parallelism, "
                                                             "rate limit, timeouts, retries")
    audioset: AudioSetConfig = Field(AudioSetConfig(), description="AudioSet classes -> genres, clips tagged twice")

    _given: bool = PrivateAttr(False)  # built from the command line's keys: each one given wins

    @classmethod
    def from_dotted(cls, overrides: dict[str, Any]) -> Self:
        """Settings from dotted keys, as ``genre --set cnn.epochs=2`` gives them."""
        settings = cls.model_validate(nest(overrides))
        settings._given = True
        return settings

    def config(self, path: str | Path | None = None, home: str | Path | None = None) -> Config:
        """The run's :class:`Config`: defaults < TOML file ``path`` < these settings: every key given on the command
        line (``--set cnn.mixup=0`` turns off a preset's mixup), or of a form, which sends every field, the values
        that differ from the default."""
        values = self.model_dump(exclude_unset=True) if self._given else self.model_dump(exclude_defaults=True)
        return load_config(path, home=home, **values)


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
    pretrained: PretrainedConfig = Field(PretrainedConfig(), description="pretrained member: musicnn checkpoint, layer")
    gate: GateConfig = Field(GateConfig(), description="promotion rule: ROC-AUC floor, improvement over the champion")
