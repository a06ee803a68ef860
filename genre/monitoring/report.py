"""The monitor's report, HTML and Markdown with PNGs: the verdict, drift per feature (KS statistic and p-value), the
predicted-genre mix against the training one, histograms of the most drifted features, live quality."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from genre.atomic import write_json
from genre.metrics.plots import _figure, _save, write_pages
from genre.monitoring.drift import Assessment
from genre.serving.reference import Reference

TOP = 25  # features shown in the drift chart and table


def summary_rows(a: Assessment) -> list[dict[str, object]]:
    """The headline numbers, one row each (what the Prefect artifact shows too)."""
    def num(value: float | None, fmt: str = ".3f") -> str:
        return "-" if value is None else format(value, fmt)

    rows = [("model", a.model), ("window", f"{a.since} .. {a.until}"), ("answers by the model", a.requests),
            ("answers by other models (left out)", a.other_models)]
    if a.enough:
        rows += [("features drifted", f"{len(a.drifted)} of {len(a.features)} ({num(a.drift_share, '.0%')})"),
                 ("predicted-genre mix drifted", f"{a.genres['drifted']} (chi-square p = {a.genres['p_value']:.3g})"),
                 ("answers with unusual_features", num(a.unusual_rate, ".1%")),
                 ("answers with feedback", a.feedback), ("live accuracy", num(a.live_accuracy)),
                 ("live ROC-AUC (macro OvR)", num(a.live_roc_auc)),
                 ("champion's test accuracy", num(a.champion_accuracy))]
    return [{"": k, "value": v} for k, v in rows]


def _plots(a: Assessment, reference: Reference, out: Path) -> list[Path]:
    plt = _figure()
    ranked = sorted(a.features, key=lambda f: -f.statistic)
    shown = ranked[:TOP][::-1]
    fig, ax = plt.subplots(figsize=(7, 0.25 * len(shown) + 1.2))
    ax.barh([f.name for f in shown], [f.statistic for f in shown],
            color=["#c0392b" if f.drifted else "#7f8c8d" for f in shown])
    ax.set(xlabel="KS statistic (red: p < threshold)", title=f"Feature drift, top {len(shown)} of {len(a.features)}")
    ax.tick_params(axis="y", labelsize=7)
    images = [_save(fig, out / "feature-drift.png")]
    genres = list(a.genres["reference"])
    fig, ax = plt.subplots(figsize=(1.2 + 0.6 * len(genres), 4))
    x = np.arange(len(genres))
    ax.bar(x - 0.2, [a.genres["reference"][g] for g in genres], 0.4, label="training clips")
    ax.bar(x + 0.2, [a.genres["current"][g] for g in genres], 0.4, label="answers in the window")
    ax.set_xticks(x, genres, rotation=45, ha="right")
    ax.set(ylabel="share", title=f"Predicted genres (chi-square p = {a.genres['p_value']:.3g})")
    ax.legend()
    images.append(_save(fig, out / "genre-mix.png"))
    index = {n: j for j, n in enumerate(reference.names)}
    worst = ranked[:4]
    fig, axes = plt.subplots(1, len(worst), figsize=(3.2 * len(worst), 3), squeeze=False)
    for ax, f in zip(axes[0], worst):
        j = index[f.name]
        ax.hist(reference.features[:, j], bins=20, density=True, alpha=0.5, label="training")
        ax.hist(a.current[:, j], bins=20, density=True, alpha=0.5, label="served")
        ax.set_title(f"{f.name}\nKS {f.statistic:.2f}, p {f.p_value:.2g}", fontsize=8)
    axes[0][0].legend(fontsize=7)
    images.append(_save(fig, out / "drifted-features.png"))
    return images


def write_report(a: Assessment, reference: Reference | None, decision: str, out_dir: str | Path) -> list[Path]:
    """report.html, report.md, assessment.json and the PNGs (none without enough data) into ``out_dir``."""
    out = Path(out_dir)
    images = _plots(a, reference, out) if a.enough and reference is not None else []
    verdict = "retrain alarm" if a.alarms else "no alarm" if a.enough else "not enough data"
    title = f"Monitor of {a.model}: {verdict}"
    sections: list[tuple[str, list[dict[str, object]] | str]] = [
        ("Verdict", a.message), ("Decision", decision), ("Summary", summary_rows(a))]
    if a.enough:
        sections.append((f"Drift per feature (KS test), the {TOP} largest", [
            {"feature": f.name, "KS": round(f.statistic, 3), "p-value": f"{f.p_value:.3g}",
             "drifted": "yes" if f.drifted else "", "training mean": f"{f.reference_mean:.4g}",
             "served mean": f"{f.current_mean:.4g}"} for f in sorted(a.features, key=lambda f: -f.statistic)[:TOP]]))
    files = write_pages(out, title, sections, images) + [out / "assessment.json"]
    write_json(files[2], {**a.to_dict(), "decision": decision})
    return images + files
