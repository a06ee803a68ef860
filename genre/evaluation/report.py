"""The evaluation report of a run, HTML and Markdown with PNGs: ROC curves of every member and candidate on one
plot, confusion matrices, the chosen candidate's per-class table, the candidates' held-apart scores and the gate."""

from __future__ import annotations

from pathlib import Path

from genre.atomic import write_json
from genre.evaluation.evaluate import Evaluation
from genre.evaluation.gate import GateRecord
from genre.metrics.plots import file_slug, plot_confusion, plot_roc, write_pages
from genre.metrics.scores import per_class
from genre.serving.predictor import ENSEMBLE
from genre.serving.registry import REPORT_PLOTS


def _sections(evaluation: Evaluation, record: GateRecord) -> list[tuple[str, list[dict[str, object]] | str]]:
    """(heading, table rows or a sentence) in report order."""
    chosen = evaluation.selection.chosen
    test_rows = [{"model": name, **s.row(), "chosen": "yes" if name == ENSEMBLE else ""}
                 for name, s in evaluation.test.items()]
    classes = per_class(evaluation.y_test, evaluation.test_probs[ENSEMBLE], evaluation.labels)
    class_rows = [{"genre": g, "precision": round(float(r.precision), 3), "recall": round(float(r.recall), 3),
                   "f1": round(float(r.f1), 3), "support": int(r.support)} for g, r in classes.iterrows()]
    return [
        ("Gate", record.rows()),
        ("Chosen candidate", f"{chosen.name}: {chosen.describe()}; {evaluation.selection.basis()}."),
        ("Candidates on held-apart clips (cross-fitted)", evaluation.selection.rows()),
        ("Test clips (frozen split): every member and candidate", test_rows),
        ("Per genre, the chosen candidate on test clips", class_rows),
    ]


def write_report(evaluation: Evaluation, record: GateRecord, out_dir: str | Path) -> list[Path]:
    """report.html, report.md, gate.json and the PNGs into ``out_dir`` (each written atomically)."""
    out = Path(out_dir)
    y, labels = evaluation.y_test, evaluation.labels
    chosen = f"chosen: {evaluation.selection.chosen.name}"
    curves = {chosen if name == ENSEMBLE else name: p for name, p in evaluation.test_probs.items()}
    images = [plot_roc(y, curves, labels, out / REPORT_PLOTS["roc"], "Test clips: every member and candidate")]
    members = {c.name for c in evaluation.selection.candidates if c.method == "member"}
    for name, s in evaluation.test.items():
        if name == ENSEMBLE or name in members:
            title = f"{evaluation.selection.chosen.name} (chosen)" if name == ENSEMBLE else name
            file = REPORT_PLOTS["confusion"] if name == ENSEMBLE else f"confusion-{file_slug(name)}.png"
            images.append(plot_confusion(s.confusion, labels, out / file, f"{title}, test clips"))
    title = f"Evaluation: {evaluation.selection.chosen.name}, gate: {record.verdict}"
    sections = _sections(evaluation, record)
    files = write_pages(out, title, sections, images) + [out / "gate.json"]
    write_json(files[2], record.to_dict())
    return images + files
