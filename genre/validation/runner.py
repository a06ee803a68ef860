"""Data validation with Great Expectations (GX Core 1.x): run suites, read the results, build Data Docs.

Each expectation carries a severity in its ``meta``: a failed *critical* one stops the
run; a failed *warning* is reported, and the catalog items it names are quarantined.
The suites themselves live in :mod:`genre.validation.suites`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

CRITICAL = "critical"
WARNING = "warning"
DATASOURCE = "genre"
SHOWN = 5  # offending ids and unexpected values named in one line


class ValidationError(RuntimeError):
    """A critical expectation failed; the message names it, the observed value and the clips."""


@dataclass
class Check:
    """The outcome of one expectation.

    ``offending`` names what failed it (catalog items, clips or genres), ``details`` adds
    context to some of them (the clip an item duplicates, the feature column...), and
    ``quarantines`` says whether they are catalog items that a failed warning quarantines.
    """

    suite: str
    expectation: str
    column: str
    severity: str
    success: bool
    observed: Any
    offending: list[str] = field(default_factory=list)
    details: dict[str, str] = field(default_factory=dict)
    quarantines: bool = False

    def named(self, limit: int = SHOWN) -> str:
        """The first ``limit`` offenders with their details, and how many more there are."""
        shown = [f"{o} ({self.details[o]})" if o in self.details else o for o in self.offending[:limit]]
        more = f" and {len(self.offending) - limit} more" if len(self.offending) > limit else ""
        return ", ".join(shown) + more

    @property
    def state(self) -> str:
        return "ok" if self.success else ("FAILED" if self.severity == CRITICAL else "warning")

    def line(self) -> str:
        where = f" on {self.column}" if self.column else ""
        text = f"[{self.state}] {self.suite}: {self.expectation}{where} (observed: {self.observed})"
        if self.offending:
            text += f"; offending: {self.named()}"
        return text


@dataclass
class ValidationReport:
    """All checks of one validation run, and where its Data Docs are."""

    checks: list[Check]
    docs: Path | None = None

    @property
    def critical(self) -> list[Check]:
        return [c for c in self.checks if not c.success and c.severity == CRITICAL]

    @property
    def warnings(self) -> list[Check]:
        return [c for c in self.checks if not c.success and c.severity == WARNING]

    def quarantine(self) -> dict[str, str]:
        """Catalog items named by failed warnings, each with the reason(s) it is quarantined for."""
        reasons: dict[str, list[str]] = {}
        for c in self.warnings:
            if c.quarantines:
                for item in c.offending:
                    reasons.setdefault(item, []).append(f"{c.suite}: {c.expectation}{' on ' + c.column if c.column else ''}")
        return {item: "failed data validation (" + "; ".join(r) + ")" for item, r in reasons.items()}

    def summary(self) -> list[dict[str, Any]]:
        """Per suite: expectations evaluated, passed, failed warnings and failed critical ones."""
        rows: dict[str, dict[str, Any]] = {}
        for c in self.checks:
            row = rows.setdefault(c.suite, {"suite": c.suite, "expectations": 0, "passed": 0, "warnings": 0,
                                            "critical": 0})
            row["expectations"] += 1
            row["passed"] += c.success
            row["warnings"] += (not c.success) and c.severity == WARNING
            row["critical"] += (not c.success) and c.severity == CRITICAL
        return list(rows.values())

    @property
    def verdict(self) -> str:
        if self.critical:
            return "STOPPED: a critical expectation failed"
        return f"passed with {len(self.warnings)} warning(s)" if self.warnings else "passed"

    def table(self) -> str:
        """The compact summary for a terminal, then one line per failed expectation."""
        head = f"{'suite':<12}{'expectations':>13}{'passed':>8}{'warnings':>10}{'critical':>10}"
        lines = [f"data validation: {self.verdict}", head]
        lines += [f"{r['suite']:<12}{r['expectations']:>13}{r['passed']:>8}{r['warnings']:>10}{r['critical']:>10}"
                  for r in self.summary()]
        lines += [c.line() for c in self.checks if not c.success]
        if self.docs:
            lines.append(f"Data Docs: {self.docs}")
        return "\n".join(lines)

    def markdown(self) -> str:
        """Summary table and the failed expectations, for a Prefect artifact."""
        lines = [f"**Data validation: {self.verdict}**", "",
                 "| suite | expectations | passed | warnings | critical |", "|---|---|---|---|---|"]
        lines += [f"| {r['suite']} | {r['expectations']} | {r['passed']} | {r['warnings']} | {r['critical']} |"
                  for r in self.summary()]
        failed = [c for c in self.checks if not c.success]
        if failed:
            lines += ["", "| severity | suite | expectation | column | observed | offending |", "|---|---|---|---|---|---|"]
            for c in failed:
                lines.append(f"| {c.severity} | {c.suite} | `{c.expectation}` | {c.column} | "
                             f"{_cell(c.observed)} | {_cell(c.named())} |")
        return "\n".join(lines)

    def records(self) -> list[dict[str, Any]]:
        return [{**asdict(c), "observed": str(c.observed)} for c in self.checks]

    def raise_for_critical(self) -> None:
        if self.critical:
            where = f"\nSee the Data Docs: {self.docs}" if self.docs else ""
            raise ValidationError("critical data validation failed:\n" + "\n".join(c.line() for c in self.critical)
                                  + where)


def _cell(value: Any) -> str:
    return str(value).replace("|", "/").replace("\n", " ")


def _context(folder: Path | None):
    """A file-mode GX context in ``folder`` (for Data Docs), else an ephemeral one; progress bars off."""
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    if folder is None:
        context = gx.get_context(mode="ephemeral")
    else:
        folder.mkdir(parents=True, exist_ok=True)
        context = gx.get_context(mode="file", project_root_dir=str(folder))
        sites = context.variables.data_docs_sites or {}
        for site in sites.values():
            site["show_how_to_buttons"] = False
        context.variables.data_docs_sites = sites
    context.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
    return context


def _observed(res: dict[str, Any], exception: str) -> Any:
    if exception:
        return f"error: {exception}"
    if "observed_value" in res:
        value = res["observed_value"]
        if isinstance(value, float):
            return round(value, 6)
        mismatched = (res.get("details") or {}).get("mismatched")
        if mismatched:
            return "; ".join(f"position {m['Expected Column Position']}: expected {m['Expected']}, found {m['Found']}"
                             for m in mismatched[:SHOWN])
        if isinstance(value, list) and len(value) > SHOWN:
            return f"{value[:SHOWN]} ... ({len(value)} values)"
        return value
    if "unexpected_count" in res:
        count, total = res.get("unexpected_count", 0), res.get("element_count", 0)
        text = f"{count} of {total} unexpected ({res.get('unexpected_percent') or 0.0:.2f}%)"
        values = res.get("partial_unexpected_list") or []
        if count and values:
            text += ", e.g. " + ", ".join(_value(v) for v in values[:3])
        return text
    return None


def _value(v: Any) -> str:
    """A value GX reports, short: 4 significant digits, numpy scalars unwrapped, pairs in brackets."""
    if isinstance(v, (tuple, list)):
        return "(" + ", ".join(_value(x) for x in v) + ")"
    if hasattr(v, "item"):
        v = v.item()
    return f"{v:.4g}" if isinstance(v, float) else str(v)


def _exception(info: dict[str, Any] | None) -> str:
    if not info:
        return ""
    if info.get("exception_message"):
        return str(info["exception_message"])
    for value in info.values():
        if isinstance(value, dict) and value.get("exception_message"):
            return str(value["exception_message"])
    return ""


def _offenders(entries: list[Any], id_columns: list[str], column: str) -> tuple[list[str], dict[str, str]]:
    """Distinct ids (``id_columns[0]``) from GX's unexpected_index_list, and the other id columns as details."""
    details: dict[str, list[str]] = {}
    for entry in entries:
        if not isinstance(entry, dict):
            details.setdefault(str(entry), [])
            continue
        extra = details.setdefault(str(entry[id_columns[0]]), [])
        extra += [f"{c}={entry[c]}" for c in id_columns[1:] if c != column and not pd.isna(entry.get(c))]
    return list(details), {k: ", ".join(dict.fromkeys(v)) for k, v in details.items() if v}


class GXRun:
    """Suites validated with GX in one context; with a ``folder``, the results become Data Docs there."""

    def __init__(self, folder: str | Path | None = None) -> None:
        self.folder = Path(folder) if folder is not None else None
        self.context = _context(self.folder)

    def _batch(self, name: str):
        sources = self.context.data_sources
        try:
            source = sources.get(DATASOURCE)
        except (KeyError, ValueError):
            source = sources.add_pandas(DATASOURCE)
        try:
            asset = source.get_asset(name)
        except LookupError:
            asset = source.add_dataframe_asset(name)
        try:
            return asset.get_batch_definition(name)
        except (KeyError, LookupError):
            return asset.add_batch_definition_whole_dataframe(name)

    def run(self, name: str, frame: pd.DataFrame, expectations: list, id_columns: list[str] | None = None,
            quarantines: bool = False) -> list[Check]:
        """Validate ``frame`` against ``expectations`` as suite ``name``; one :class:`Check` per expectation.

        ``id_columns[0]`` names the offending rows (catalog items, clips, genres); the other
        id columns are shown beside it.
        """
        import great_expectations as gx

        # replace rather than add_or_update, which compares every expectation with every other (slow)
        for store in (self.context.validation_definitions, self.context.suites):
            if any(entry.name == name for entry in store.all()):
                store.delete(name)
        suite = self.context.suites.add(gx.ExpectationSuite(name=name, expectations=expectations))
        definition = self.context.validation_definitions.add(
            gx.ValidationDefinition(name=name, data=self._batch(name), suite=suite))
        result_format: dict[str, Any] = {"result_format": "COMPLETE"}
        if id_columns:
            result_format["unexpected_index_column_names"] = list(id_columns)
        outcome = definition.run(batch_parameters={"dataframe": frame}, result_format=result_format)
        order = {e.id: i for i, e in enumerate(suite.expectations)}
        checks = []
        for r in sorted(outcome.results, key=lambda r: order.get(r.expectation_config.id, len(order))):
            cfg, res = r.expectation_config, r.result or {}
            column = cfg.kwargs.get("column") or cfg.kwargs.get("column_A") or ""
            offending, details = _offenders(res.get("unexpected_index_list") or [], id_columns or [], column)
            checks.append(Check(name, cfg.type, column, (cfg.meta or {}).get("severity", CRITICAL), bool(r.success),
                                _observed(res, _exception(r.exception_info)), offending, details, quarantines))
        return checks

    def build_docs(self, report: ValidationReport, stage: str) -> Path | None:
        """Build this run's Data Docs, readable offline, plus an index page; returns the index."""
        if self.folder is None:
            return None
        from genre.validation import datadocs

        self.context.build_data_docs()
        return datadocs.publish(self.folder, stage, report.records(), report.verdict)
