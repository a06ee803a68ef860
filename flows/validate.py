"""The ``validate`` flow (catalog, ingestion, audio content, balance) and the features validation task.

Both quarantine or stop as the expectations' severities say, print a compact summary,
post it as a Prefect artifact and link the run's offline GX Data Docs.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from prefect import flow, task
from prefect.artifacts import create_link_artifact, create_markdown_artifact
from prefect.cache_policies import NO_CACHE

from flows.timing import TIMEOUTS
from genre.config import Config, load_config
from genre.data.catalog import QUARANTINED, Catalog
from genre.data.store import BlobStore
from genre.features.dataset import FeatureSet
from genre.features.extractor import feature_names
from genre.validation.feature_profile import FeatureProfile
from genre.validation.runner import GXRun, ValidationReport
from genre.validation.suites import validate_data, validate_features


def _publish(report: ValidationReport, key: str, title: str, extra: str = "") -> None:
    print(report.table())
    docs = f"\n\nGX Data Docs (offline HTML): `{report.docs}`" if report.docs else ""
    create_markdown_artifact(key=key, markdown=f"## {title}\n\n{report.markdown()}{extra}{docs}",
                             description=f"{title}: Great Expectations results")
    if report.docs:
        create_link_artifact(key=f"{key}-docs", link=report.docs.resolve().as_uri(),
                             link_text=f"{title}: GX Data Docs", description="open in a browser; works offline")


@flow(name="validate", log_prints=True, timeout_seconds=TIMEOUTS["validate"])
def validate(config: str | None = None, home: str | None = None, cfg: Config | None = None,
             run_dir: str | Path | None = None) -> ValidationReport:
    """Validate the catalog and every clip's audio; quarantine items named by warnings; stop on a critical one.

    The GX Data Docs go to ``<run_dir>/validation/index.html`` (default: a new ``runs/validate-*`` folder).
    """
    cfg = cfg or load_config(config, home=home)
    run_dir = Path(run_dir) if run_dir else cfg.runs_dir / f"validate-{datetime.now(UTC):%Y%m%dT%H%M%S}"
    catalog = Catalog(cfg.catalog_path)
    gx_run = GXRun(run_dir / "validation")
    report = validate_data(catalog.frame(), BlobStore(cfg.store_dir), cfg, gx_run)
    quarantined = report.quarantine()
    if quarantined:
        catalog.set_item_status(quarantined, QUARANTINED)
    report.docs = gx_run.build_docs(report, "data")
    extra = ""
    if quarantined:
        extra = f"\n\nQuarantined {len(quarantined)} item(s) (kept in the store, flagged in the catalog, left out of " \
                "training):\n\n" + "\n".join(f"- `{i}`: {r}" for i, r in sorted(quarantined.items()))
    _publish(report, "genre-validation", "Data validation", extra)
    if quarantined:
        print(f"quarantined {len(quarantined)} item(s): kept in the store, flagged in the catalog, left out of training")
    report.raise_for_critical()
    return report


@task(name="validate-features", cache_policy=NO_CACHE)
def validate_features_task(fs: FeatureSet, assignment: dict[str, str], cfg: Config, run_dir: Path) -> FeatureProfile:
    """Check the feature table; learn the per-column ranges on the training split (saved with the model)."""
    train = fs.table["clip_id"].map(assignment).eq("train")
    gx_run = GXRun(run_dir / "validation")
    report, profile = validate_features(fs.table, feature_names(cfg.features), cfg.validation, gx_run, train)
    report.docs = gx_run.build_docs(report, "features")
    _publish(report, "genre-feature-validation", "Feature validation")
    report.raise_for_critical()
    if profile is None:
        raise ValueError("no training rows to learn feature ranges from; check the split")
    return profile
