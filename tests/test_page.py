"""The service's page in a real browser: Playwright driving Debian's Chromium (no browser download) against a real
`bentoml serve BENTO` on 127.0.0.1, so the page's files are those the Bento carries.

The served champion is the small one of tests/champion.py, scored on unseen gtzan-mini clips the way the pipeline's
evaluation does, with its ROC curves and confusion matrix in its run's folder as the report writes them. The
service has a token: the page asks for it, as a person would have to.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from tests import champion as small_champion
from tests.conftest import write_tone
from tests.servers import BIN, free_port, start, stop, wait_until

pytestmark = pytest.mark.slow

TOKEN = "page-token"
RUN = "20261130T080000-page17"
CHROMIUM = Path(os.environ.get("GENRE_CHROMIUM", "/usr/bin/chromium"))
PHONE = {"width": 360, "height": 740}


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("page")


def evaluate(predictor: Any, paths: list[Path], out: Path) -> dict[str, Any]:
    """Score ``predictor`` on ``paths`` as genre.evaluation does, write the report's two plots into ``out``;
    returns the metadata the pipeline stores with a model."""
    from genre.evaluation.gate import decide
    from genre.metrics.plots import plot_confusion, plot_roc
    from genre.metrics.scores import clip_mean, score
    from genre.serving.predictor import ENSEMBLE
    from genre.serving.registry import REPORT_PLOTS

    labels = list(predictor.labels)
    X, M, y, clips = small_champion.clip_arrays(paths, labels)
    probs = predictor.predict_clips(X, M, clips)
    truth = clip_mean(np.eye(len(labels))[y], clips)[1].argmax(axis=1)
    scores = {name: score(truth, p) for name, p in probs.items()}
    record = decide("average(logreg+vgg16)", truth, probs[ENSEMBLE], 0.5, 0.0, "page-test-split")
    plot_roc(truth, {("chosen: average" if k == ENSEMBLE else k): p for k, p in probs.items()}, labels,
             out / REPORT_PLOTS["roc"], "Test clips: every member and candidate")
    plot_confusion(scores[ENSEMBLE].confusion, labels, out / REPORT_PLOTS["confusion"],
                   "average(logreg+vgg16) (chosen), test clips")
    return {"run": RUN, "metrics": {name: s.row() for name, s in scores.items()}, "gate": record.to_dict(),
            "ensemble": "average of logreg and vgg16", "members": ["logreg", "vgg16"],
            "data_version": "gtzan-mini-first-4"}


@pytest.fixture(scope="module")
def champion(workdir: Path, gtzan_mini: Path) -> dict[str, Any]:
    """The small champion, scored on the last two clips of each genre (unseen), its plots in its run's folder."""
    predictor, precision = small_champion.train(workdir, gtzan_mini)
    unseen = [p for g in predictor.labels for p in sorted((gtzan_mini / g).iterdir())[-2:]]
    out = workdir / "home" / "runs" / RUN / "evaluation"
    out.mkdir(parents=True)
    metadata = {**evaluate(predictor, unseen, out), "precision": precision}
    return {**small_champion.publish(predictor, workdir, metadata, by="tests/test_page.py"), "metadata": metadata}


@pytest.fixture(scope="module")
def server(champion: dict[str, Any], workdir: Path) -> Iterator[str]:
    """`bentoml serve BENTO` with a token, its home (for the run's plots) from GENRE_HOME."""
    port = free_port()
    config = workdir / "serve.toml"
    config.write_text(f"[serve]\nport = {port}\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GENRE_", "BENTOML_"))}
    env |= {"BENTOML_HOME": str(Path(champion["home"]) / "bentoml"), "BENTOML_DO_NOT_TRACK": "true",
            "GENRE_HOME": champion["home"], "GENRE_CONFIG": str(config), "GENRE_SERVE_TOKEN": TOKEN}
    proc = start([str(BIN / "bentoml"), "serve", champion["bento"]], env, workdir / "serve.log", cwd=workdir)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: httpx.get(f"{base}/readyz", timeout=2).status_code == 200, 180, "bentoml serve", proc)
        yield base
    finally:
        stop(proc)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Debian's Chromium through Playwright; its absence fails the tests (make test installs it where it can)."""
    from playwright.sync_api import sync_playwright

    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(f"no Chromium at {CHROMIUM}: the browser tests drive Debian's chromium package. Install it "
                    "(as root: apt-get install -y chromium; `make test` does this where it can) or point "
                    "GENRE_CHROMIUM at a Chromium binary", pytrace=False)
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Any, server: str) -> Iterator[Any]:
    """A fresh tab on the page, the token given in its form; every request it makes is recorded in ``requests``."""
    from playwright.sync_api import expect

    context = browser.new_context(viewport={"width": 1100, "height": 900})
    tab = context.new_page()
    tab.requests = []
    tab.on("request", lambda r: tab.requests.append(r.url))
    tab.goto(server)
    expect(tab.get_by_label("Access token")).to_be_focused()  # the service has a token: the page asks for it
    tab.get_by_label("Access token").fill(TOKEN)
    tab.keyboard.press("Enter")
    expect(tab.locator("#auth")).to_be_hidden()
    yield tab
    context.close()


WATCH_STATUS = """() => { window.seen = [];
  new MutationObserver(() => { if (!document.getElementById("progress").hidden)
    window.seen.push(document.getElementById("status").textContent); })
  .observe(document.getElementById("status"), {childList: true, characterData: true, subtree: true}); }"""


DROP = """(name) => { const data = new DataTransfer();
  data.items.add(new File(["plain words, no audio"], name, {type: "text/plain"}));
  document.getElementById("drop").dispatchEvent(new DragEvent("drop", {dataTransfer: data, bubbles: true})); }"""


def _classify(server: str, path: Path) -> dict[str, Any]:
    with path.open("rb") as f:
        answer = httpx.post(f"{server}/classify", files={"audio": (path.name, f)},
                            headers={"Authorization": f"Bearer {TOKEN}"}, timeout=120)
    assert answer.status_code == 200, answer.text
    return answer.json()


def _bars(page: Any) -> list[tuple[str, float]]:
    rows = page.locator("#bars li")
    return [(row.locator(".name").inner_text(), float(row.locator(".value").inner_text().rstrip("%")))
            for row in rows.all()]


def test_a_real_clip_shows_its_genre_and_every_probability(page: Any, server: str, gtzan_mini: Path,
                                                           champion: dict[str, Any]) -> None:
    from playwright.sync_api import expect

    clip = sorted((gtzan_mini / "jazz").iterdir())[-1]
    page.evaluate(WATCH_STATUS)
    page.get_by_label("Choose an audio file").set_input_files(clip)
    expect(page.locator("#result")).to_be_visible(timeout=60_000)
    states = page.evaluate("window.seen")
    assert any(s.startswith("Uploading") for s in states) and f"Listening to {clip.name}…" in states, states
    expected = _classify(server, clip)
    assert page.locator("#genre").inner_text() == expected["genre"]
    assert page.locator("#result-file").inner_text() == clip.name
    bars = _bars(page)
    assert [name for name, _ in bars][0] == expected["genre"]
    assert sorted(name for name, _ in bars) == sorted(champion["labels"])
    for name, shown in bars:
        assert shown == pytest.approx(100 * expected["probabilities"][name], abs=0.51), name
    assert [v for _, v in bars] == sorted((v for _, v in bars), reverse=True)
    widths = page.locator("#bars .fill").evaluate_all("els => els.map(e => e.getBoundingClientRect().width)")
    assert widths[0] > widths[-1] >= 0  # the bars are drawn to scale
    assert page.locator("#duration").inner_text().startswith(f"{expected['duration_analysed']:.1f} s")
    assert page.locator("#result-model").inner_text() == champion["tag"]
    expect(page.locator("#progress")).to_be_hidden()
    assert page.locator("#warning").is_visible() == bool(expected["unusual_features"])


def test_an_unusual_clip_is_flagged(page: Any, server: str, tmp_path: Path) -> None:
    from playwright.sync_api import expect

    tone = write_tone(tmp_path / "tone.wav", freq=3000.0, seconds=6.0, noise=0.0)  # nothing like GTZAN's music
    unusual = _classify(server, tone)["unusual_features"]
    assert unusual, "the tone should lie outside the training ranges"
    page.get_by_label("Choose an audio file").set_input_files(tone)
    expect(page.locator("#warning")).to_be_visible(timeout=60_000)
    expect(page.locator("#warning")).to_contain_text("unlike the music the model learnt from")
    assert unusual[0] in page.locator("#unusual").inner_text()


def test_errors_are_said_in_plain_words(page: Any, tmp_path: Path) -> None:
    from playwright.sync_api import expect

    notes = tmp_path / "notes.txt"
    notes.write_text("just some words, not a song\n")
    page.get_by_label("Choose an audio file").set_input_files(notes)
    error = page.locator("#error")
    expect(error).to_be_visible(timeout=60_000)
    expect(page.locator("#error-title")).to_have_text("notes.txt could not be classified")
    expect(page.locator("#error-text")).to_contain_text("not audio the service can read")
    detail = page.locator("#error-detail").inner_text()
    assert "not decodable audio" in detail and "multipart" not in detail and "curl" not in detail
    expect(page.locator("#result")).to_be_hidden()
    quiet = write_tone(tmp_path / "quiet.wav", amp=0.0, noise=0.0)
    page.get_by_label("Choose an audio file").set_input_files(quiet)
    expect(page.locator("#error-text")).to_contain_text("silent", timeout=60_000)
    expect(page.locator("#error-title")).to_have_text("quiet.wav could not be classified")
    big = tmp_path / "big.wav"
    with big.open("wb") as f:
        f.truncate(51 * 2**20)  # over serve.max_upload_mb (50): refused before it is sent
    page.get_by_label("Choose an audio file").set_input_files(big)
    expect(page.locator("#error-text")).to_contain_text("too large for this service")
    expect(page.locator("#error-detail")).to_contain_text("limit of 50 MB")
    page.evaluate(DROP, "dropped.txt")  # the same through the drop zone
    expect(page.locator("#error-title")).to_have_text("dropped.txt could not be classified", timeout=60_000)
    expect(page.locator("#error-text")).to_contain_text("not audio the service can read")


def test_the_model_view_shows_the_champion_and_its_evaluation(page: Any, champion: dict[str, Any]) -> None:
    from playwright.sync_api import expect

    page.get_by_role("link", name="The model").click()
    expect(page.locator("#model-body")).to_be_visible()
    expect(page.locator("#classify")).to_be_hidden()
    facts = page.locator("#model-facts")
    expect(facts).to_contain_text(champion["tag"])
    expect(facts).to_contain_text("promoted by tests/test_page.py")
    expect(facts).to_contain_text(", ".join(champion["labels"]))
    ensemble = champion["metadata"]["metrics"]["ensemble"]
    row = page.locator("#metrics tbody tr", has_text="ensemble (chosen)")
    expect(row).to_contain_text(str(ensemble["roc_auc"]))
    expect(page.locator("#metrics tbody tr")).to_have_count(3)  # logreg, vgg16, the ensemble
    verdict = champion["metadata"]["gate"]["verdict"]
    expect(page.locator("#gate-verdict")).to_contain_text(f"Verdict: {verdict}")
    for plot in ("roc", "confusion"):
        image = page.locator(f"#{plot}")
        expect(image).to_be_visible()
        assert image.evaluate("img => img.complete && img.naturalWidth") > 300, plot
        assert image.get_attribute("alt")


def test_offline_behind_the_token_and_the_api_description_kept(page: Any, server: str) -> None:
    from playwright.sync_api import expect

    page.get_by_role("link", name="The model").click()
    expect(page.locator("#roc")).to_be_visible()
    outside = [u for u in page.requests if not u.startswith((server, "blob:"))]
    assert outside == [], outside  # no CDN, font or script from elsewhere
    assert httpx.get(server, timeout=10).status_code == 200  # the page holds no data: open like the docs
    for path in ("/model", "/model/roc.png", "/model/confusion.png"):
        assert httpx.get(f"{server}{path}", timeout=10).status_code == 401, path
    assert httpx.post(f"{server}/classify", files={"audio": ("a.wav", b"x")}, timeout=10).status_code == 401
    missing = httpx.get(f"{server}/model/other.png", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10)
    assert missing.status_code == 404 and "roc" in missing.json()["error"]
    page.get_by_role("link", name="API description").click()
    expect(page.locator(".swagger-ui").first).to_be_visible()
    expect(page.get_by_text("/classify_batch").first).to_be_visible(timeout=30_000)
    assert "/classify" in httpx.get(f"{server}/docs.json", timeout=10).json()["paths"]


def test_the_bento_carries_the_page(champion: dict[str, Any]) -> None:
    import bentoml

    from genre.serving import registry

    registry.use_store(champion["home"])
    files = Path(bentoml.bentos.get(champion["bento"]).path) / "src" / "services" / "page" / "files"
    assert {"index.html", "page.js", "page.css", "docs.html"} <= {p.name for p in files.iterdir()}


CONTRAST = """() => {
  const rgb = (c) => c.match(/[\\d.]+/g).map(Number);
  const lum = ([r, g, b]) => [r, g, b].map((v) => { v /= 255; return v <= 0.03928 ? v / 12.92
    : ((v + 0.055) / 1.055) ** 2.4; }).reduce((s, v, i) => s + v * [0.2126, 0.7152, 0.0722][i], 0);
  const background = (el) => {
    for (; el; el = el.parentElement) {
      const c = rgb(getComputedStyle(el).backgroundColor);
      if (c.length < 4 || c[3] > 0) return c.slice(0, 3);
    }
    return [255, 255, 255];
  };
  const worst = [];
  for (const el of document.querySelectorAll("body *")) {
    const own = [...el.childNodes].some((n) => n.nodeType === 3 && n.textContent.trim());
    if (!own || !el.getClientRects().length || getComputedStyle(el).visibility === "hidden") continue;
    const [a, b] = [lum(rgb(getComputedStyle(el).color)), lum(background(el))];
    const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
    if (ratio < 4.5) worst.push(`${el.tagName}#${el.id}.${el.className}: ${ratio.toFixed(2)}`);
  }
  return worst;
}"""


def test_keyboard_phone_width_labels_and_contrast(browser: Any, server: str, gtzan_mini: Path) -> None:
    from playwright.sync_api import expect

    context = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
    tab = context.new_page()
    try:
        tab.goto(server)
        token = tab.get_by_label("Access token")
        expect(token).to_be_focused()
        tab.keyboard.type(TOKEN)
        tab.keyboard.press("Enter")
        expect(tab.locator("#auth")).to_be_hidden()
        expect(tab.locator("#classify-title")).to_be_focused()
        tab.reload()  # the token is kept for this tab: Tab from the top of the page
        expect(tab.locator("#limits")).not_to_be_empty()
        focused = []
        for _ in range(8):  # Tab reaches the views, the API description and the file chooser, in that order
            tab.keyboard.press("Tab")
            focused.append(tab.evaluate("document.activeElement.id || document.activeElement.textContent.trim()"))
        assert focused.index("Classify a song") < focused.index("The model") < focused.index("file"), focused
        clip = sorted((gtzan_mini / "rock").iterdir())[-1]
        tab.locator("#file").set_input_files(clip)
        expect(tab.locator("#result")).to_be_visible(timeout=60_000)
        assert tab.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]  # no sideways scrolling
        assert tab.evaluate(CONTRAST) == []
        tab.get_by_role("link", name="The model").focus()
        tab.keyboard.press("Enter")
        expect(tab.locator("#model-title")).to_be_focused()
        expect(tab.locator("#confusion")).to_be_visible()
        assert tab.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
        assert tab.evaluate(CONTRAST) == []
        unlabelled = tab.evaluate("""() => [...document.querySelectorAll('input, button, select, textarea')]
            .filter((el) => !el.labels.length && !el.getAttribute('aria-label')
                    && !(el.tagName === 'BUTTON' && el.textContent.trim())).map((el) => el.outerHTML)""")
        assert unlabelled == []
    finally:
        context.close()
