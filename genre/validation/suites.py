"""The three GX suites: the catalog, the audio content of every clip, and the feature table.

Each suite builds one DataFrame (plain columns, derived where GX needs a per-row value,
e.g. ``exact_duplicate_of`` or ``near_duplicate_similarity``) and lets GX judge it.
Catalog and audio failures name catalog items (``source:source_id``), so that failed
warnings can quarantine exactly those rows.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from genre.config import Config, ValidationConfig
from genre.data.catalog import OK, QUARANTINED, item
from genre.data.store import BlobStore
from genre.validation.audio_profile import near_duplicates, profile_clips
from genre.validation.feature_profile import FeatureProfile
from genre.validation.runner import CRITICAL, WARNING, GXRun, ValidationReport

STRING_COLUMNS = ["clip_id", "label", "source", "source_id", "sha256"]
NUMBER_COLUMNS = ["duration", "sample_rate", "channels"]
REQUIRED_COLUMNS = [*STRING_COLUMNS, *NUMBER_COLUMNS, "status", "reason"]
NUMBER_TYPES = ["float64", "float32", "int64", "int32"]
LABEL_PATTERN = r"^[^\W_A-Z]+(?:-[^\W_A-Z]+)*$"  # normalise_label's output: any alphabet, dashes
FLOAT32_MAX = float(np.finfo(np.float32).max)
CRIT, WARN = {"severity": CRITICAL}, {"severity": WARNING}


def catalog_rows(frame: pd.DataFrame) -> pd.DataFrame:
    """Usable catalog rows, one per item, with the per-row facts the catalog suite checks."""
    ok = frame[frame["status"] == OK].sort_values(["source", "source_id"]).reset_index(drop=True)
    ok.insert(0, "item", [item(s, i) for s, i in zip(ok["source"], ok["source_id"])])
    first = ok.groupby("sha256")["item"].transform("first")
    ok["exact_duplicate_of"] = first.where(first != ok["item"])
    ok["sha256s_per_clip"] = ok.groupby("clip_id")["sha256"].transform("nunique")
    ok["labels_per_clip"] = ok.groupby("clip_id")["label"].transform("nunique")
    # GX checks the value types of object columns one by one; pandas 3's "str" dtype it does not know
    return ok.astype({c: object for c in [*STRING_COLUMNS, "item", "exact_duplicate_of"]})


def catalog_expectations(cfg: ValidationConfig, genres: list[str] | None, min_seconds: float) -> list:
    import great_expectations.expectations as gxe

    exps = [gxe.ExpectColumnToExist(column=c, meta=CRIT) for c in REQUIRED_COLUMNS]
    exps += [gxe.ExpectColumnValuesToBeInTypeList(column=c, type_list=["str"], meta=CRIT) for c in STRING_COLUMNS]
    exps += [gxe.ExpectColumnValuesToBeInTypeList(column=c, type_list=NUMBER_TYPES, meta=CRIT) for c in NUMBER_COLUMNS]
    exps += [gxe.ExpectColumnValuesToNotBeNull(column=c, meta=CRIT) for c in [*STRING_COLUMNS, *NUMBER_COLUMNS]]
    exps += [
        gxe.ExpectColumnValuesToMatchRegex(column="sha256", regex=r"^[0-9a-f]{64}$", meta=CRIT),
        gxe.ExpectColumnValuesToBeBetween(column="sha256s_per_clip", min_value=1, max_value=1, meta=CRIT),
        gxe.ExpectColumnValuesToBeInSet(column="label", value_set=list(genres), meta=WARN) if genres else
        gxe.ExpectColumnValuesToMatchRegex(column="label", regex=LABEL_PATTERN, meta=WARN),
        gxe.ExpectColumnValuesToBeBetween(column="labels_per_clip", min_value=1, max_value=1, meta=WARN),
        gxe.ExpectColumnValuesToBeBetween(column="duration", min_value=min_seconds, max_value=cfg.max_duration,
                                          meta=WARN),
        gxe.ExpectColumnValuesToBeInSet(column="sample_rate", value_set=list(cfg.sample_rates), meta=WARN),
        gxe.ExpectColumnValuesToBeBetween(column="channels", min_value=1, max_value=cfg.max_channels, meta=WARN),
        gxe.ExpectColumnValuesToBeNull(column="exact_duplicate_of", meta=WARN),
    ]
    return exps


def ingestion_expectations(cfg: ValidationConfig) -> list:
    import great_expectations.expectations as gxe

    return [gxe.ExpectColumnValuesToBeInSet(column="status", value_set=[OK, QUARANTINED],
                                            mostly=1.0 - cfg.max_failed_share, meta=CRIT)]


def audio_rows(ok: pd.DataFrame, store: BlobStore, cfg: Config, progress: bool = True) -> pd.DataFrame:
    """One row per distinct clip (named by its first item) with its audio profile.

    ``near_duplicate_similarity`` is the highest fingerprint similarity to an earlier clip;
    ``near_duplicate_of`` names that clip when the similarity is over the threshold (context
    for the report; GX judges the similarity).
    """
    clips = ok.drop_duplicates("clip_id").reset_index(drop=True)
    profiles = profile_clips([str(store.path(s)) for s in clips["sha256"]], list(clips["sha256"]),
                             list(clips["sample_rate"]), cfg.profile_cache, cfg.validation.full_scale,
                             workers=cfg.workers, progress=progress)
    similarity, match = near_duplicates(np.stack([p.fingerprint for p in profiles]) if profiles else np.zeros((0, 1)))
    items = clips["item"].to_numpy()
    rows = pd.DataFrame({
        "item": items,
        "clip_id": clips["clip_id"],
        "decodable": [p.decodable for p in profiles],
        "decode_error": [p.error or None for p in profiles],
        "length_ratio": [p.seconds / d if p.decodable and d else np.nan for p, d in zip(profiles, clips["duration"])],
        "rms": [p.rms for p in profiles],
        "clipped_share": [p.clipped_share for p in profiles],
        "nonfinite_share": [p.nonfinite_share for p in profiles],
        "near_duplicate_similarity": np.round(similarity, 4),
        "near_duplicate_of": [items[j] if j >= 0 and sim > cfg.validation.near_duplicate_similarity else None
                              for j, sim in zip(match, similarity)],
    })
    undecodable = ~rows["decodable"]
    rows.loc[undecodable, "near_duplicate_similarity"] = np.nan  # an empty fingerprint resembles nothing
    return rows.astype({"item": object, "clip_id": object, "decode_error": object, "near_duplicate_of": object})


def audio_expectations(cfg: ValidationConfig) -> list:
    import great_expectations.expectations as gxe

    return [
        gxe.ExpectColumnValuesToBeInSet(column="decodable", value_set=[True], meta=WARN),
        gxe.ExpectColumnValuesToBeBetween(column="length_ratio", min_value=1.0 - cfg.max_length_mismatch,
                                          max_value=1.0 + cfg.max_length_mismatch, meta=WARN),
        gxe.ExpectColumnValuesToBeBetween(column="nonfinite_share", min_value=0.0, max_value=0.0, meta=WARN),
        gxe.ExpectColumnValuesToBeBetween(column="rms", min_value=cfg.min_rms, meta=WARN),
        gxe.ExpectColumnValuesToBeBetween(column="clipped_share", max_value=cfg.max_clipped_share, meta=WARN),
        gxe.ExpectColumnValuesToBeBetween(column="near_duplicate_similarity",
                                          max_value=cfg.near_duplicate_similarity, strict_max=True, meta=WARN),
    ]


def balance_rows(ok: pd.DataFrame, genres: list[str] | None) -> pd.DataFrame:
    """Clips per genre (configured genres included even at zero) and each genre's ratio to the smallest."""
    counts = ok.drop_duplicates("clip_id")["label"].value_counts()
    if genres:
        counts = counts.reindex(list(genres), fill_value=0)
    table = counts.rename_axis("label").reset_index(name="clips").astype({"label": object})
    table["ratio_to_smallest"] = table["clips"] / max(1, int(table["clips"].min()) if len(table) else 1)
    return table


def balance_expectations(cfg: ValidationConfig) -> list:
    import great_expectations.expectations as gxe

    return [
        gxe.ExpectTableRowCountToBeBetween(min_value=2, meta=CRIT),
        gxe.ExpectColumnValuesToBeBetween(column="clips", min_value=cfg.min_clips_per_genre, meta=CRIT),
        gxe.ExpectColumnMaxToBeBetween(column="ratio_to_smallest", max_value=cfg.max_class_ratio, meta=WARN),
    ]


def validate_data(frame: pd.DataFrame, store: BlobStore, cfg: Config, run: GXRun,
                  progress: bool = True) -> ValidationReport:
    """Catalog, ingestion, audio content and class balance; balance counts only clips that survive the warnings."""
    genres = list(cfg.genres) if cfg.genres else None
    ok = catalog_rows(frame)
    every = frame.assign(item=[item(s, i) for s, i in zip(frame["source"], frame["source_id"])]).astype(
        {"item": object, "status": object, "reason": object})
    checks = run.run("catalog", ok, catalog_expectations(cfg.validation, genres, cfg.features.min_seconds),
                     ["item", "exact_duplicate_of"], quarantines=True)
    checks += run.run("ingestion", every[["item", "status", "reason"]], ingestion_expectations(cfg.validation),
                      ["item", "reason"])
    if len(ok):
        checks += run.run("audio", audio_rows(ok, store, cfg, progress), audio_expectations(cfg.validation),
                          ["item", "decode_error", "near_duplicate_of"], quarantines=True)
    dropped = ValidationReport(checks).quarantine()
    checks += run.run("balance", balance_rows(ok[~ok["item"].isin(dropped)], genres),
                      balance_expectations(cfg.validation), ["label"])
    return ValidationReport(checks)


def feature_expectations(expected: list[str]) -> list:
    import great_expectations.expectations as gxe

    return [gxe.ExpectTableColumnsToMatchOrderedList(column_list=expected, meta=CRIT)]


def value_expectations() -> list:
    import great_expectations.expectations as gxe

    return [
        gxe.ExpectColumnValuesToNotBeNull(column="value", meta=CRIT),
        gxe.ExpectColumnValuesToBeBetween(column="value", min_value=-FLOAT32_MAX, max_value=FLOAT32_MAX, meta=CRIT),
    ]


def range_expectations(profile: FeatureProfile, cfg: ValidationConfig) -> list:
    """One expectation per feature column: held-out values inside the training range, but for a tolerated share."""
    import great_expectations.expectations as gxe

    mostly = 1.0 - cfg.max_out_of_range_share
    return [gxe.ExpectColumnValuesToBeBetween(column=n, min_value=lo, max_value=hi, mostly=mostly, meta=WARN)
            for n, lo, hi in zip(profile.names, profile.low, profile.high)]


def validate_features(table: pd.DataFrame, names: list[str], cfg: ValidationConfig, run: GXRun,
                      train: pd.Series) -> tuple[ValidationReport, FeatureProfile | None]:
    """Schema equal to the feature config and no NaN or inf; then ranges learnt on the ``train`` rows.

    ``table`` is the segment table (clip_id, segment, label, features...), ``names`` the feature
    columns the configuration defines and ``train`` a boolean mask of the training rows. The
    other rows are checked against the learnt ranges. The profile is None when a critical
    expectation failed (no ranges are learnt from broken features).
    """
    expected = ["clip_id", "segment", "label", *names]
    checks = run.run("features", table.head(0), feature_expectations(expected))
    present = [n for n in names if n in table.columns]
    long = table[["clip_id", *present]].astype({"clip_id": object}).melt(
        id_vars=["clip_id"], var_name="column", value_name="value")
    checks += run.run("feature-values", long, value_expectations(), ["clip_id", "column"])
    if ValidationReport(checks).critical or not train.any():
        return ValidationReport(checks), None
    mask = train.to_numpy()
    profile = FeatureProfile.learn(table.loc[mask, names].to_numpy(), names, cfg.feature_range_margin)
    if (~mask).any():
        held_out = table.loc[~mask, ["clip_id", *names]].astype({"clip_id": object})
        checks += run.run("feature-ranges", held_out, range_expectations(profile, cfg), ["clip_id"])
    return ValidationReport(checks), profile
