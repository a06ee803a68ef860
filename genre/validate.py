"""Data validation with Great Expectations (GX Core 1.x).

Each expectation carries a severity in its ``meta``: a failed *critical* one stops the
run; a failed *warning* is reported, and the clips it names are quarantined.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from genre.catalog import OK
from genre.config import ValidationConfig

CRITICAL = "critical"
WARNING = "warning"
REQUIRED_COLUMNS = ["clip_id", "label", "source", "source_id", "sha256", "duration", "sample_rate", "channels",
                    "status", "reason"]


class ValidationError(RuntimeError):
    """A critical expectation failed; the message names it, the observed value and the clips."""


@dataclass
class Check:
    """The outcome of one expectation."""

    suite: str
    expectation: str
    column: str
    severity: str
    success: bool
    observed: Any
    offending: list[str] = field(default_factory=list)

    def line(self) -> str:
        state = "ok" if self.success else ("FAILED" if self.severity == CRITICAL else "warning")
        where = f" on {self.column}" if self.column else ""
        text = f"[{state}] {self.suite}: {self.expectation}{where} (observed: {self.observed})"
        if self.offending:
            more = f" and {len(self.offending) - 5} more" if len(self.offending) > 5 else ""
            text += f"; offending: {', '.join(map(str, self.offending[:5]))}{more}"
        return text


@dataclass
class ValidationReport:
    """All checks of one validation run."""

    checks: list[Check]

    @property
    def critical(self) -> list[Check]:
        return [c for c in self.checks if not c.success and c.severity == CRITICAL]

    @property
    def warnings(self) -> list[Check]:
        return [c for c in self.checks if not c.success and c.severity == WARNING]

    def quarantine(self) -> set[str]:
        """Clip ids named by failed warnings."""
        return {o for c in self.warnings for o in c.offending}

    def markdown(self) -> str:
        lines = ["| suite | expectation | column | severity | result | observed |", "|---|---|---|---|---|---|"]
        for c in self.checks:
            result = "pass" if c.success else "**fail**"
            lines.append(f"| {c.suite} | {c.expectation} | {c.column} | {c.severity} | {result} | {c.observed} |")
        return "\n".join(lines)

    def raise_for_critical(self) -> None:
        if self.critical:
            raise ValidationError("critical data validation failed:\n" + "\n".join(c.line() for c in self.critical))


def run_suite(name: str, frame: pd.DataFrame, expectations: list, id_column: str | None = None) -> list[Check]:
    """Validate ``frame`` with GX and turn each result into a :class:`Check`."""
    import great_expectations as gx

    context = gx.get_context(mode="ephemeral")
    batch = context.data_sources.add_pandas(name).add_dataframe_asset(name).add_batch_definition_whole_dataframe(name)
    suite = context.suites.add(gx.ExpectationSuite(name=name))
    for exp in expectations:
        suite.add_expectation(exp)
    definition = context.validation_definitions.add(gx.ValidationDefinition(name=name, data=batch, suite=suite))
    result_format = {"result_format": "COMPLETE"}
    if id_column:
        result_format["unexpected_index_column_names"] = [id_column]
    outcome = definition.run(batch_parameters={"dataframe": frame}, result_format=result_format)
    checks = []
    for r in outcome.results:
        cfg, res = r.expectation_config, r.result or {}
        offending: list[str] = []
        if id_column and res.get("unexpected_index_list"):
            offending = sorted({str(i[id_column]) if isinstance(i, dict) else str(i) for i in res["unexpected_index_list"]})
        observed = res.get("observed_value", res.get("unexpected_percent"))
        if isinstance(observed, float):
            observed = round(observed, 4)
        if "unexpected_percent" in res and "observed_value" not in res:
            observed = f"{res.get('unexpected_count', 0)} unexpected ({observed:.1f}%)"
        checks.append(Check(name, cfg.type, cfg.kwargs.get("column", ""), (cfg.meta or {}).get("severity", CRITICAL),
                            bool(r.success), observed, offending))
    return checks


def catalog_expectations(cfg: ValidationConfig, genres: list[str] | None) -> list:
    import great_expectations.expectations as gxe

    crit, warn = {"severity": CRITICAL}, {"severity": WARNING}
    exps = [gxe.ExpectColumnToExist(column=c, meta=crit) for c in REQUIRED_COLUMNS]
    exps += [
        gxe.ExpectColumnValuesToNotBeNull(column="clip_id", meta=crit),
        gxe.ExpectColumnValuesToBeBetween(column="duration", min_value=cfg.min_duration,
                                          max_value=cfg.max_duration, meta=warn),
        gxe.ExpectColumnValuesToBeBetween(column="channels", min_value=1, max_value=8, meta=warn),
        gxe.ExpectCompoundColumnsToBeUnique(column_list=["clip_id", "label"], meta=warn),
    ]
    if genres:
        exps.append(gxe.ExpectColumnValuesToBeInSet(column="label", value_set=list(genres), meta=crit))
    return exps


def validate_catalog(frame: pd.DataFrame, cfg: ValidationConfig, genres: list[str] | None = None) -> ValidationReport:
    """Run the catalog suite: schema, labels, durations, failure share and class balance."""
    import great_expectations.expectations as gxe

    crit, warn = {"severity": CRITICAL}, {"severity": WARNING}
    ok = frame[frame["status"] == OK].drop_duplicates("clip_id").reset_index(drop=True)
    checks = run_suite("catalog", ok, catalog_expectations(cfg, genres), id_column="clip_id")
    status = pd.DataFrame({"failed": (frame["status"] == "failed").astype(int)})
    checks += run_suite("ingestion", status, [
        gxe.ExpectColumnMeanToBeBetween(column="failed", min_value=0.0, max_value=cfg.max_failed_share, meta=crit),
    ])
    counts = ok["label"].value_counts().rename_axis("label").reset_index(name="clips")
    counts["ratio_to_smallest"] = counts["clips"] / max(1, counts["clips"].min())
    checks += run_suite("balance", counts, [
        gxe.ExpectTableRowCountToBeBetween(min_value=2, meta=crit),
        gxe.ExpectColumnValuesToBeBetween(column="clips", min_value=cfg.min_clips_per_genre, meta=crit),
        gxe.ExpectColumnMaxToBeBetween(column="ratio_to_smallest", max_value=cfg.max_class_ratio, meta=warn),
    ], id_column="label")
    return ValidationReport(checks)
