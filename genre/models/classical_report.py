"""The classical models' report, measured on clips: for every model the macro one-vs-rest ROC-AUC with a bootstrap
95% interval, accuracy, macro-F1, per-class precision/recall/F1/support, the confusion matrix, ROC curves (one PNG
per model and one comparing all) and fit time, written as Markdown and HTML."""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from genre.atomic import write_text
from genre.config import ClassicalConfig
from genre.metrics.plots import file_slug, markdown_table, plot_confusion, plot_roc, plot_roc_classes
from genre.metrics.scores import Scores, bootstrap_roc_auc, clip_truth, per_class, score
from genre.models.classical import Fitted, predict_proba
from genre.models.ensemble import Selection
from genre.models.train import ClassicalResult, Split


@dataclass
class ModelReport:
    """One model's clip-level results on the measured split."""

    name: str
    scores: Scores
    ci: tuple[float, float]
    per_class: pd.DataFrame
    probs: np.ndarray
    fitted: Fitted | None  # None for an ensemble of the fitted models
    about: str = ""

    def row(self, chosen: bool) -> dict[str, object]:
        s, f = self.scores, self.fitted
        return {"model": self.name, "roc_auc": round(s.roc_auc, 4), "ci95_low": round(self.ci[0], 4),
                "ci95_high": round(self.ci[1], 4), "accuracy": round(s.accuracy, 4), "macro_f1": round(s.macro_f1, 4),
                "cv_roc_auc": round(f.cv_roc_auc, 4) if f else "", "fit_seconds": round(f.fit_seconds, 2) if f else "",
                "clips": s.n_clips, "chosen": "yes" if chosen else ""}


@dataclass
class ClassicalReport:
    """Every classical model measured on one split (``truth``: its clip labels), and the one chosen."""

    title: str
    split: str
    labels: list[str]
    models: dict[str, ModelReport]
    best: str
    basis: str
    truth: np.ndarray
    skipped: dict[str, str] = field(default_factory=dict)
    files: list[Path] = field(default_factory=list)

    def rows(self) -> list[dict[str, object]]:
        """One row per model: the Prefect table artifact and metrics.csv."""
        return [m.row(name == self.best) for name, m in self.models.items()]

    def _summary(self) -> str:
        return (f"Chosen model: {self.best} ({self.basis}). Metrics on the {self.split} clips (a clip is the mean of "
                "its segment probabilities); ROC-AUC is macro one-vs-rest with a bootstrap 95% interval over clips.")

    def _notes(self) -> list[str]:
        return [f"Skipped {name}: {reason}" for name, reason in self.skipped.items()]

    @staticmethod
    def _about(m: ModelReport) -> str:
        f = m.fitted
        if f is None:
            return m.about
        return (f"Parameters: {f.params or 'defaults'}; cross-validated clip ROC-AUC {f.cv_roc_auc:.4f} "
                f"± {f.cv_std:.4f}; search and refit {f.fit_seconds:.1f} s.")

    def markdown(self) -> str:
        parts = [f"# {self.title}", self._summary(), markdown_table(self.rows()), *self._notes(),
                 "![ROC of all models](roc-all.png)"]
        for name, m in self.models.items():
            parts += [f"## {name}", self._about(m), markdown_table(_per_class_rows(m)),
                      "Confusion matrix (rows true, columns predicted):", markdown_table(_confusion_rows(m, self.labels)),
                      f"![ROC {name}](roc-{file_slug(name)}.png) ![confusion {name}](confusion-{file_slug(name)}.png)"]
        return "\n\n".join(parts) + "\n"

    def html(self) -> str:
        esc = html.escape
        body = [f"<h1>{esc(self.title)}</h1>", f"<p>{esc(self._summary())}</p>",
                pd.DataFrame(self.rows()).to_html(index=False), *(f"<p>{esc(n)}</p>" for n in self._notes()),
                '<img src="roc-all.png" alt="ROC of all models">']
        for name, m in self.models.items():
            body += [f"<h2>{esc(name)}</h2>", f"<p>{esc(self._about(m))}</p>",
                     pd.DataFrame(_per_class_rows(m)).to_html(index=False),
                     "<p>Confusion matrix (rows true, columns predicted):</p>",
                     pd.DataFrame(_confusion_rows(m, self.labels)).to_html(index=False),
                     f'<img src="roc-{file_slug(name)}.png" alt="ROC {esc(name)}">',
                     f'<img src="confusion-{file_slug(name)}.png" alt="confusion {esc(name)}">']
        style = ("body{font-family:sans-serif;max-width:1100px;margin:auto}table{border-collapse:collapse}"
                 "td,th{border:1px solid #ccc;padding:2px 6px;text-align:right}img{max-width:49%}")
        return (f"<!doctype html><html><head><meta charset='utf-8'><title>{esc(self.title)}</title>"
                f"<style>{style}</style></head><body>{''.join(body)}</body></html>\n")

    def write(self, out_dir: str | Path) -> list[Path]:
        """report.md, report.html, metrics.csv and the PNGs into ``out_dir`` (each written atomically)."""
        out = Path(out_dir)
        truth = self.truth
        files = [plot_roc(truth, {n: m.probs for n, m in self.models.items()}, self.labels, out / "roc-all.png",
                          f"ROC (macro one-vs-rest, {self.split} clips)")]
        for name, m in self.models.items():
            files.append(plot_roc_classes(truth, m.probs, self.labels, out / f"roc-{file_slug(name)}.png",
                                          f"{name}: one-vs-rest ROC, {self.split} clips"))
            files.append(plot_confusion(m.scores.confusion, self.labels, out / f"confusion-{file_slug(name)}.png",
                                        f"{name}, {self.split} clips"))
        for target, text in ((out / "report.md", self.markdown()), (out / "report.html", self.html()),
                             (out / "metrics.csv", pd.DataFrame(self.rows()).to_csv(index=False))):
            write_text(target, text)
            files.append(target)
        self.files = files
        return files


def _per_class_rows(m: ModelReport) -> list[dict[str, object]]:
    return [{"class": label, "precision": round(float(r.precision), 3), "recall": round(float(r.recall), 3),
             "f1": round(float(r.f1), 3), "support": int(r.support)} for label, r in m.per_class.iterrows()]


def _confusion_rows(m: ModelReport, labels: list[str]) -> list[dict[str, object]]:
    return [{"true": label, **{p: int(v) for p, v in zip(labels, row)}}
            for label, row in zip(labels, m.scores.confusion)]


def build_report(result: ClassicalResult, split: Split, split_name: str, labels: list[str], cfg: ClassicalConfig,
                 title: str = "Classical models", selection: Selection | None = None) -> ClassicalReport:
    """Measure every fitted model on the clips of ``split``, and every candidate ensemble of ``selection``
    (chosen on held-apart clips) beside them."""
    models = {}
    for name, fitted in result.fitted.items():
        y, probs = clip_truth(predict_proba(fitted.model, split.X, len(labels)), split.y, split.clips)
        models[name] = _measured(name, y, probs, labels, cfg, fitted)
    best, basis = result.best, "best validation ROC-AUC" if result.validation else "best cross-validated ROC-AUC"
    if selection is not None:
        members = {name: m.probs for name, m in models.items()}
        for c in selection.candidates:
            if c.method != "member" and not c.skipped:
                combiner = selection.combiner(c)
                models[c.name] = _measured(c.name, y, combiner.combine(members), labels, cfg, None,
                                           f"{combiner.describe()}; held-apart ROC-AUC {c.roc_auc:.4f}.")
        best = selection.chosen.name
        basis = (f"best of every model and ensemble on {selection.n_clips} held-apart clips (out-of-fold and "
                 "validation predictions), ties to the simpler")
    return ClassicalReport(title, split_name, labels, models, best, basis, y, result.skipped)


def _measured(name: str, y: np.ndarray, probs: np.ndarray, labels: list[str], cfg: ClassicalConfig,
              fitted: Fitted | None, about: str = "") -> ModelReport:
    return ModelReport(name, score(y, probs), bootstrap_roc_auc(y, probs, cfg.bootstrap, cfg.seed),
                       per_class(y, probs, labels), probs, fitted, about)
