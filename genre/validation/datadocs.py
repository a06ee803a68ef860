"""GX Data Docs made readable offline, and a plain index page for one run's validation.

GX renders its pages on the server side but loads Bootstrap, jQuery, Vega and a logo
from CDNs. Offline those requests hang or fail, so :func:`offline` drops every remote
script, stylesheet and image and inlines a little CSS instead; the content is already
in the HTML. GX's own index lists results with JavaScript, so :func:`publish` writes an
index of its own that needs none.
"""

from __future__ import annotations

import html
import json
import re
from pathlib import Path
from typing import Any

from genre.atomic import write_json, write_text

SITE = Path("gx") / "uncommitted" / "data_docs" / "local_site"
_REMOTE = [
    re.compile(r"<script\b[^>]*\bsrc=[\"']https?://[^>]*>\s*</script>", re.I),
    re.compile(r"<link\b[^>]*\bhref=[\"']https?://[^>]*>", re.I),
    re.compile(r"<img\b[^>]*\bsrc=[\"']https?://[^>]*>", re.I),
]
_STYLE = """<style>
body{font-family:system-ui,sans-serif;margin:1.5em;color:#222}
table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;padding:.25em .6em;text-align:left;vertical-align:top}
th{background:#f3f3f3}.fail{color:#b00020;font-weight:600}.warn{color:#a86100;font-weight:600}.ok{color:#1b7f3b}
code{background:#f6f6f6;padding:0 .2em}
</style>"""


def offline(site: Path) -> int:
    """Strip remote scripts, stylesheets and images from every HTML page under ``site``; returns pages changed."""
    changed = 0
    for page in site.rglob("*.html"):
        text = page.read_text(encoding="utf-8")
        new = text
        for pattern in _REMOTE:
            new = pattern.sub("", new)
        if "genre-offline" not in new:
            new = new.replace("</head>", f"<!-- genre-offline -->{_STYLE}</head>", 1)
        if new != text:
            write_text(page, new)
            changed += 1
    return changed


def _pages(site: Path, suite: str) -> list[Path]:
    """GX's result pages of ``suite``, newest first, and its suite page."""
    results = sorted((site / "validations" / suite).rglob("*.html"), key=lambda p: p.stat().st_mtime, reverse=True)
    expectations = site / "expectations" / f"{suite}.html"
    return results[:1] + ([expectations] if expectations.is_file() else [])


def _named(check: dict[str, Any]) -> str:
    details = check.get("details") or {}
    return ", ".join(f"{o} ({details[o]})" if o in details else o for o in check["offending"])


def _stage_html(folder: Path, stage: dict[str, Any]) -> str:
    site = folder / SITE
    suites = list(dict.fromkeys(c["suite"] for c in stage["checks"]))
    out = [f"<h2>{html.escape(stage['stage'])}: {html.escape(stage['verdict'])}</h2>",
           "<table><tr><th>suite</th><th>expectations</th><th>passed</th><th>warnings</th><th>critical</th>"
           "<th>GX Data Docs</th></tr>"]
    for suite in suites:
        checks = [c for c in stage["checks"] if c["suite"] == suite]
        failed = [c for c in checks if not c["success"]]
        crit = sum(c["severity"] == "critical" for c in failed)
        links = " ".join(f'<a href="{p.relative_to(folder).as_posix()}">{"results" if i == 0 else "suite"}</a>'
                         for i, p in enumerate(_pages(site, suite)))
        out.append(f"<tr><td>{html.escape(suite)}</td><td>{len(checks)}</td><td>{len(checks) - len(failed)}</td>"
                   f"<td>{len(failed) - crit}</td><td>{crit}</td><td>{links}</td></tr>")
    out.append("</table>")
    failed = [c for c in stage["checks"] if not c["success"]]
    if failed:
        out.append("<table><tr><th>severity</th><th>suite</th><th>expectation</th><th>column</th><th>observed</th>"
                   "<th>offending</th></tr>")
        for c in failed:
            css = "fail" if c["severity"] == "critical" else "warn"
            out.append(f"<tr><td class='{css}'>{c['severity']}</td><td>{html.escape(c['suite'])}</td>"
                       f"<td><code>{html.escape(c['expectation'])}</code></td><td>{html.escape(c['column'])}</td>"
                       f"<td>{html.escape(c['observed'])}</td>"
                       f"<td>{html.escape(_named(c))}</td></tr>")
        out.append("</table>")
    return "\n".join(out)


def publish(folder: str | Path, stage: str, checks: list[dict[str, Any]], verdict: str) -> Path:
    """Record ``stage``'s checks in ``folder``, make the GX site offline and (re)write ``folder/index.html``."""
    folder = Path(folder)
    write_json(folder / f"checks-{stage}.json", {"stage": stage, "verdict": verdict, "checks": checks})
    offline(folder / SITE)
    stages = sorted(folder.glob("checks-*.json"), key=lambda p: p.stat().st_mtime)
    body = "\n".join(_stage_html(folder, json.loads(p.read_text())) for p in stages)
    page = (f"<!doctype html><html><head><meta charset='utf-8'><title>genre data validation</title>{_STYLE}"
            f"</head><body><h1>Data validation of this run</h1>\n{body}\n"
            f"<p>Full GX Data Docs: <a href='{(SITE / 'index.html').as_posix()}'>site index</a> "
            "(its list of results needs JavaScript from the internet; the result pages linked above do not).</p>"
            "</body></html>\n")
    index = folder / "index.html"
    write_text(index, page)
    return index
