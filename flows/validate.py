"""The ``validate`` flow: Great Expectations over the catalog, quarantine, stop on critical."""

from __future__ import annotations

from prefect import flow
from prefect.artifacts import create_markdown_artifact

from genre.catalog import QUARANTINED, Catalog
from genre.config import Config, load_config
from genre.validate import ValidationReport, validate_catalog


@flow(name="validate", log_prints=True)
def validate(config: str | None = None, home: str | None = None, cfg: Config | None = None) -> ValidationReport:
    """Validate the catalog; quarantine clips named by warnings; fail the run on a critical expectation."""
    cfg = cfg or load_config(config, home=home)
    catalog = Catalog(cfg.catalog_path)
    report = validate_catalog(catalog.frame(), cfg.validation, list(cfg.genres) if cfg.genres else None)
    for check in report.checks:
        if not check.success:
            print(check.line())
    quarantined = report.quarantine()
    if quarantined:
        catalog.set_status(quarantined, QUARANTINED, "failed a data-validation warning; see the validation report")
        print(f"quarantined {len(quarantined)} clips (kept in the store, left out of training)")
    verdict = "**stopped**: a critical expectation failed" if report.critical else "passed"
    create_markdown_artifact(
        key="genre-validation",
        markdown=f"## Data validation: {verdict}\n\n{report.markdown()}\n\nQuarantined clips: {len(quarantined)}",
        description="Great Expectations results for the catalog",
    )
    report.raise_for_critical()
    return report
