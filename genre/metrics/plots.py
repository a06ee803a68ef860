"""Human-facing results: metric tables in Markdown, ROC curves and confusion matrices as PNG."""

from __future__ import annotations

import html
import re
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import roc_curve

from genre.atomic import atomic_path, write_text
from genre.metrics.scores import Scores

STYLE = ("body{font-family:sans-serif;max-width:1100px;margin:auto}table{border-collapse:collapse;margin:8px 0}"
         "td,th{border:1px solid #ccc;padding:2px 6px;text-align:right}img{max-width:49%}")
Section = tuple[str, str | list[dict[str, object]]]  # a heading and a paragraph or table rows


def write_pages(out: Path, title: str, sections: list[Section], images: list[Path]) -> list[Path]:
    """``out``/report.html and report.md: the title, each section (a paragraph or a table), then the images
    (PNGs in ``out``); returns the two files."""
    md, body = [f"# {title}"], [f"<h1>{html.escape(title)}</h1>"]
    for heading, content in sections:
        md += [f"## {heading}", content if isinstance(content, str) else markdown_table(content)]
        body += [f"<h2>{html.escape(heading)}</h2>",
                 f"<p>{html.escape(content)}</p>" if isinstance(content, str)
                 else pd.DataFrame(content).to_html(index=False)]
    md += [f"![{p.stem}]({p.name})" for p in images]
    body += [f'<img src="{html.escape(p.name)}" alt="{html.escape(p.stem)}">' for p in images]
    page = (f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
            f"<style>{STYLE}</style></head><body>{''.join(body)}</body></html>\n")
    write_text(out / "report.html", page)
    write_text(out / "report.md", "\n\n".join(md) + "\n")
    return [out / "report.html", out / "report.md"]


def metrics_table(rows: dict[str, Scores], title: str = "") -> str:
    """A Markdown table: one row per model."""
    lines = [f"### {title}", ""] if title else []
    lines += ["| model | ROC-AUC (macro OvR) | accuracy | macro-F1 | clips |", "|---|---|---|---|---|"]
    for name, s in rows.items():
        lines.append(f"| {name} | {s.roc_auc:.4f} | {s.accuracy:.4f} | {s.macro_f1:.4f} | {s.n_clips} |")
    return "\n".join(lines)


def file_slug(name: str) -> str:
    """``name`` safe in a file name and a Markdown link: ``average(svm+logreg)`` -> ``average-svm-logreg``."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-")


def markdown_table(rows: list[dict[str, object]]) -> str:
    """A Markdown table from dict rows (the first row's keys are the columns)."""
    if not rows:
        return ""
    cols = list(rows[0])
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(str(r.get(c, "")) for c in cols) + " |" for r in rows]
    return "\n".join(lines)


def _figure():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_roc(y: np.ndarray, probs: dict[str, np.ndarray], labels: list[str], path: Path,
             title: str = "ROC (macro one-vs-rest, test clips)") -> Path:
    """Macro-averaged one-vs-rest ROC curve of each model on one chart, the legend (with each ROC-AUC) beside it."""
    from genre.metrics.scores import macro_roc_auc

    plt = _figure()
    fig, ax = plt.subplots(figsize=(5.5 + 3.5 * (len(probs) > 3), 5))
    grid = np.linspace(0, 1, 201)
    for name, p in probs.items():
        tprs = [np.interp(grid, *roc_curve(y == k, p[:, k])[:2]) for k in range(len(labels)) if 0 < np.sum(y == k) < len(y)]
        ax.plot(grid, np.mean(tprs, axis=0), label=f"{name} ({macro_roc_auc(y, p):.3f})", alpha=0.85)
    ax.plot([0, 1], [0, 1], "k:", lw=1)
    ax.set(xlabel="false positive rate", ylabel="true positive rate", title=title)
    if len(probs) > 3:
        ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), fontsize=8, title="model (ROC-AUC)")
    else:
        ax.legend(loc="lower right", title="model (ROC-AUC)")
    return _save(fig, path)


def plot_roc_classes(y: np.ndarray, probs: np.ndarray, labels: list[str], path: Path, title: str) -> Path:
    """One model's one-vs-rest ROC curve of every class (that has positives and negatives in ``y``)."""
    plt = _figure()
    fig, ax = plt.subplots(figsize=(6, 5))
    for k, label in enumerate(labels):
        if 0 < np.sum(y == k) < len(y):
            ax.plot(*roc_curve(y == k, probs[:, k])[:2], lw=1.2, label=label)
    ax.plot([0, 1], [0, 1], "k:", lw=1)
    ax.set(xlabel="false positive rate", ylabel="true positive rate", title=title)
    ax.legend(loc="lower right", fontsize="small", ncol=2)
    return _save(fig, path)


def plot_confusion(confusion: np.ndarray, labels: list[str], path: Path, title: str) -> Path:
    plt = _figure()
    fig, ax = plt.subplots(figsize=(1.2 + 0.55 * len(labels), 1.0 + 0.5 * len(labels)))
    ax.imshow(confusion, cmap="Blues")
    ax.set_xticks(range(len(labels)), labels, rotation=45, ha="right")
    ax.set_yticks(range(len(labels)), labels)
    for (i, j), v in np.ndenumerate(confusion):
        ax.text(j, i, str(v), ha="center", va="center", color="white" if v > confusion.max() / 2 else "black")
    ax.set(xlabel="predicted", ylabel="true", title=title)
    return _save(fig, path)


def _save(fig, path: Path) -> Path:
    fig.tight_layout()
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    _figure().close(fig)
    return path


def plot_training(history: dict[str, list[float]], path: Path, title: str) -> Path:
    """Loss and validation clip ROC-AUC per epoch, side by side."""
    plt = _figure()
    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.5))
    for name, values in history.items():
        axis = right if "roc_auc" in name else left
        axis.plot(range(1, len(values) + 1), values, marker="o", label=name.replace("_", " "))
    left.set(xlabel="epoch", ylabel="training loss", title="loss")
    right.set(xlabel="epoch", ylabel="macro ROC-AUC", title="validation clips", ylim=(0.0, 1.02))
    for axis in (left, right):
        if axis.lines:
            axis.legend(fontsize=8)
    fig.suptitle(title)
    return _save(fig, path)
