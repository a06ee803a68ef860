"""The HTTP service through a real `bentoml serve` on 127.0.0.1: every endpoint with real GTZAN clips, every kind of
bad input, a bounded load, the OpenAPI schema fuzzed by schemathesis, the bearer token, the default bind address,
and the same probabilities as `genre predict`.

One small champion (logistic regression + a tiny VGG16, averaged) is trained on 4 clips per genre of gtzan-mini and
packaged as a Bento once; two servers run it: an open one started by `genre serve` with small limits, and one
started by a plain `bentoml serve BENTO` with a token and ``over_duration = "refuse"``.
"""

from __future__ import annotations

import io
import json
import os
import re
import select
import socket
import subprocess
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np
import pytest
import soundfile as sf

from tests import champion as small_champion
from tests.conftest import ROOT
from tests.servers import BIN, free_port, start, stop, wait_until

pytestmark = pytest.mark.slow

TOKEN = "s3cret-token"
OPEN_LIMITS = {"serve.max_upload_mb": 5, "serve.max_seconds": 20, "serve.max_batch_files": 4}
TEMP_NAME = re.compile(r"tmp[a-z0-9_]{8}")


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("service")


@pytest.fixture(scope="module")
def champion(workdir: Path, gtzan_mini: Path) -> dict[str, str]:
    """A champion trained on the first clips of each genre, saved, packaged as a Bento and promoted."""
    predictor, precision = small_champion.train(workdir, gtzan_mini)
    metadata = {"metrics": {"ensemble": {"roc_auc": 0.9}}, "data_version": "gtzan-mini-first-4",
                "precision": precision, "gate": {"passed": True, "reason": "test champion"}}
    return small_champion.publish(predictor, workdir, metadata, by="tests/test_service.py")


def _env(champion: dict[str, str], **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GENRE_", "BENTOML_"))}
    return {**env, "BENTOML_HOME": str(Path(champion["home"]) / "bentoml"), "BENTOML_DO_NOT_TRACK": "true", **extra}


@pytest.fixture(scope="module")
def open_server(champion: dict[str, str], workdir: Path) -> Iterator[str]:
    """`genre serve` with small limits; its temporary files go to workdir/tmp-open."""
    port = free_port()
    (workdir / "tmp-open").mkdir()
    sets = [arg for key, value in OPEN_LIMITS.items() for arg in ("--set", f"{key}={value}")]
    server = start([str(BIN / "genre"), "--home", champion["home"], "serve", "--port", str(port), *sets],
                   _env(champion, TMPDIR=str(workdir / "tmp-open")), workdir / "open.log", cwd=workdir)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: httpx.get(f"{base}/readyz", timeout=2).status_code == 200, 180, "genre serve", server)
        yield base
    finally:
        stop(server)


@pytest.fixture(scope="module")
def locked_server(champion: dict[str, str], workdir: Path) -> Iterator[tuple[str, int]]:
    """A plain `bentoml serve BENTO` (no --host, no --port): the [serve] section of $GENRE_CONFIG decides, and the
    token comes from GENRE_SERVE_TOKEN."""
    port = free_port()
    config = workdir / "locked.toml"
    config.write_text(f'[serve]\nport = {port}\nmax_seconds = 10\nover_duration = "refuse"\n')
    server = start([str(BIN / "bentoml"), "serve", champion["bento"]],
                   _env(champion, GENRE_CONFIG=str(config), GENRE_SERVE_TOKEN=TOKEN), workdir / "locked.log",
                   cwd=workdir)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: httpx.get(f"{base}/readyz", timeout=2).status_code == 200, 180, "bentoml serve", server)
        yield base, port
    finally:
        stop(server)


def _clip(gtzan_mini: Path, label: str, index: int = -1) -> Path:
    """A clip the champion did not train on (the last of its genre)."""
    return sorted((gtzan_mini / label).iterdir())[index]


def _encoded(y: np.ndarray, fmt: str, sr: int = 22050, subtype: str | None = None) -> bytes:
    out = io.BytesIO()
    sf.write(out, y, sr, format=fmt, subtype=subtype)
    return out.getvalue()


def _post(base: str, path: str, files: list | dict | None = None, data: dict | None = None,
          headers: dict | None = None, **kw) -> httpx.Response:
    return httpx.post(f"{base}{path}", files=files, data=data, headers=headers, timeout=120, **kw)


def _refused(response: httpx.Response, status: int, *words: str) -> str:
    """The error message of a refusal with ``status``, which says each of ``words`` and never a server path."""
    assert response.status_code == status, f"{response.status_code}: {response.text}"
    message = response.json()["error"]
    for word in words:
        assert word in message, message
    assert not TEMP_NAME.search(message) and "/tmp" not in message, message
    return message


def test_classify_real_clips_in_every_format(open_server: str, gtzan_mini: Path, champion: dict) -> None:
    from genre.data.audio import ffmpeg_exe

    y, sr = sf.read(_clip(gtzan_mini, "jazz"), dtype="float32")
    uploads = {"jazz.wav": _clip(gtzan_mini, "jazz").read_bytes(), "jazz.flac": _encoded(y, "FLAC", sr),
               "jazz.mp3": _encoded(y, "MP3", sr), "jazz.ogg": _encoded(y, "OGG", sr, "VORBIS"),
               "jazz.au": _encoded(y, "AU", sr, "PCM_16")}
    wav = Path(champion["home"]).parent / "jazz.wav"
    wav.write_bytes(uploads["jazz.wav"])
    m4a = wav.with_suffix(".m4a")
    subprocess.run([ffmpeg_exe(), "-v", "error", "-y", "-i", str(wav), "-c:a", "aac", str(m4a)], check=True)
    uploads["jazz.m4a"] = m4a.read_bytes()
    for name, body in uploads.items():
        answer = _post(open_server, "/classify", files={"audio": (name, body)})
        assert answer.status_code == 200, f"{name}: {answer.text}"
        result = answer.json()
        assert result["file"] == name and result["model"] == champion["tag"]
        assert set(result["probabilities"]) == set(champion["labels"])
        assert abs(sum(result["probabilities"].values()) - 1) < 1e-4
        assert result["genre"] == max(result["probabilities"], key=result["probabilities"].get)
        assert abs(result["duration_analysed"] - len(y) / sr) < 0.1 and result["truncated"] is False
        assert isinstance(result["unusual_features"], list) and "segments" not in result


def test_segments_on_request_and_long_files_cut(open_server: str, gtzan_mini: Path) -> None:
    path = _clip(gtzan_mini, "rock")
    answer = _post(open_server, "/classify", files={"audio": (path.name, path.read_bytes())},
                   data={"segments": "true"}).json()
    segments = answer["segments"]
    assert len(segments) >= 5 and segments[0]["start"] == 0.0
    assert all(s["end"] - s["start"] == pytest.approx(3.0, abs=0.01) for s in segments)
    assert all(abs(sum(s["probabilities"].values()) - 1) < 1e-4 for s in segments)
    y, sr = sf.read(path, dtype="float32")
    long = np.tile(y, 3)  # 45 s and more, over serve.max_seconds = 20 of the open server
    answer = _post(open_server, "/classify", files={"audio": ("long.wav", _encoded(long, "WAV", sr))})
    assert answer.status_code == 200, answer.text
    assert answer.json()["truncated"] is True and answer.json()["duration_analysed"] == 20.0


def test_batch_answers_each_file_and_a_bad_one_fails_alone(open_server: str, gtzan_mini: Path,
                                                           champion: dict) -> None:
    good = [_clip(gtzan_mini, g) for g in ("blues", "metal", "classical")]
    files = [("audio", (p.name, p.read_bytes())) for p in good]
    files.insert(1, ("audio", ("broken.mp3", b"<html>not found</html>")))
    answer = _post(open_server, "/classify_batch", files=files)
    assert answer.status_code == 200, answer.text
    results = answer.json()
    assert [r["file"] for r in results] == [good[0].name, "broken.mp3", good[1].name, good[2].name]
    assert results[1]["status"] == 400 and "broken.mp3: not decodable audio" in results[1]["error"]
    assert all(set(r["probabilities"]) == set(champion["labels"]) for r in results if "error" not in r)
    too_many = [("audio", (f"{i}.wav", good[0].read_bytes())) for i in range(5)]  # serve.max_batch_files = 4
    _refused(_post(open_server, "/classify_batch", files=too_many), 413, "at most 4 file")


def test_bentoml_client_as_the_readme_shows(open_server: str, gtzan_mini: Path, champion: dict) -> None:
    import bentoml

    clips = [_clip(gtzan_mini, "metal"), _clip(gtzan_mini, "pop")]
    with bentoml.SyncHTTPClient(open_server) as client:
        answer = client.classify(audio=clips[0], segments=True)
        answers = client.classify_batch(audio=clips)
    assert answer["file"] == clips[0].name and answer["segments"] and answer["model"] == champion["tag"]
    assert [a["file"] for a in answers] == [c.name for c in clips]
    assert answers[0]["probabilities"] == pytest.approx(answer["probabilities"], abs=1e-6)


def test_model_health_readiness_metrics_and_openapi(open_server: str, champion: dict) -> None:
    import bentoml

    from genre.serving import registry

    info = httpx.get(f"{open_server}/model", timeout=30).json()
    registry.use_store(champion["home"])
    stored = bentoml.models.get(champion["tag"]).info
    assert info["tag"] == champion["tag"] and info["genres"] == champion["labels"]
    assert info["metadata"] == json.loads(json.dumps(dict(stored.metadata)))  # passed through as stored
    assert info["metadata"]["data_version"] == "gtzan-mini-first-4" and "path" not in info
    assert info["limits"] == {"max_upload_mb": 5.0, "max_seconds": 20.0, "over_duration": "truncate",
                              "max_batch_files": 4}
    for probe in ("/livez", "/readyz", "/healthz"):
        assert httpx.get(f"{open_server}{probe}", timeout=10).status_code == 200
    metrics = httpx.get(f"{open_server}/metrics", timeout=10)
    assert metrics.status_code == 200 and "bentoml_service_request_total" in metrics.text
    spec = httpx.get(f"{open_server}/docs.json", timeout=10).json()
    assert {"/classify", "/classify_batch", "/model"} <= set(spec["paths"])
    described = json.dumps(spec)
    assert "At most 5 MB per request" in described and "up to 4 audio files" in described


def test_bad_input_gets_a_4xx_that_names_the_file(open_server: str, gtzan_mini: Path) -> None:
    sr = 22050
    song, _ = sf.read(_clip(gtzan_mini, "pop"), dtype="float32")
    wav = _encoded(song[: 5 * sr], "WAV")
    nan = np.full(3 * sr, np.nan, dtype=np.float32)
    files = {
        "empty.wav": (b"", "empty"),
        "notes.txt": (b"just some words", "not decodable audio"),
        "page.mp3": (b"<!doctype html><html><body>404</body></html>", "not decodable audio"),
        "noise.bin": (np.random.default_rng(0).bytes(50_000), "not decodable audio"),
        "quiet.wav": (_encoded(np.zeros(5 * sr, np.float32), "WAV"), "audio is silent"),
        "blip.wav": (_encoded(song[:100], "WAV"), "too short"),
        "nan.wav": (_encoded(nan, "WAV", subtype="FLOAT"), "NaN"),
        "cut.wav": (wav[:300], "too short"),  # a header and a few samples: the rest never arrived
        "corrupt.flac": (b"fLaC" + np.random.default_rng(1).bytes(20_000), "not decodable audio"),
    }
    for name, (body, why) in files.items():
        _refused(_post(open_server, "/classify", files={"audio": (name, body)}), 400, name, why, "Send")
    ok = ("song.wav", wav)
    _refused(_post(open_server, "/classify", files={"file": ok}), 400, "unexpected field 'file'", "'audio'")
    _refused(_post(open_server, "/classify", files={"file": ("x.bin", b"\xff\xfe\x00binary")}), 400, "'file'")
    _refused(_post(open_server, "/classify", files={"segments": (None, "true")}), 400,
             "no file in the field 'audio'")
    _refused(_post(open_server, "/classify", files={"audio": (None, "http://127.0.0.1:1/song.wav")}), 400,
             "holds text")  # not fetched: BentoML would download a URL given in place of the file
    _refused(_post(open_server, "/classify", data={"segments": "true"}), 415, "x-www-form-urlencoded")
    _refused(_post(open_server, "/classify", files={"audio": ok}, data={"segments": "maybe"}), 400, "segments")
    _refused(_post(open_server, "/classify", files={"audio": ok, "segments": ("s.wav", b"\xff\xfe")}), 400,
             "'segments' holds a file")
    _refused(_post(open_server, "/classify", json={"audio": "http://127.0.0.1:1/song.wav"}), 415,
             "multipart/form-data")
    _refused(_post(open_server, "/classify", content=wav, headers={"Content-Type": "audio/wav"}), 415, "audio/wav")
    _refused(_post(open_server, "/classify", content=b"--x\r\nbroken", headers={
        "Content-Type": "multipart/form-data; boundary=y"}), 400, "multipart")
    weird = "../../etc/\x00pass\nwd" + "x" * 300 + ".wav"
    message = _refused(_post(open_server, "/classify", files={"audio": (weird, b"")}), 400, "empty")
    assert "\n" not in message and "/etc" not in message


def _answer_before_body(port: int, headers: bytes, chunks: Iterator[bytes] = iter(())) -> bytes:
    """Send ``headers`` and then ``chunks`` until the server answers; returns what it answered."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
        s.sendall(headers)
        for chunk in chunks:
            if select.select([s], [], [], 0)[0]:
                break
            try:
                s.sendall(chunk)
            except OSError:
                break
        reply = b""
        while not reply.endswith(b"}"):  # the JSON error object ends the answer
            data = s.recv(65536)
            if not data:
                break
            reply += data
        return reply


def test_too_large_uploads_are_refused_before_the_body_is_read(open_server: str) -> None:
    port = int(open_server.rsplit(":", 1)[1])
    head = (b"POST /classify HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: multipart/form-data; boundary=b\r\n")
    reply = _answer_before_body(port, head + b"Content-Length: 314572800\r\n\r\n")  # 300 MB announced, none sent
    assert reply.startswith(b"HTTP/1.1 413"), reply
    assert b"serve.max_upload_mb" in reply
    part = b"--b\r\nContent-Disposition: form-data; name=\"audio\"; filename=\"big.wav\"\r\n\r\n"
    chunk = b"%x\r\n%s\r\n" % (65536, b"\0" * 65536)
    reply = _answer_before_body(port, head + b"Transfer-Encoding: chunked\r\n\r\n",
                                iter([b"%x\r\n%s\r\n" % (len(part), part)] + [chunk] * 200))  # 12.5 MB, no length
    assert reply.startswith(b"HTTP/1.1 413"), reply
    assert b"serve.max_upload_mb" in reply


def test_uploads_are_removed(open_server: str, workdir: Path) -> None:
    left = [p for p in (workdir / "tmp-open").rglob("*") if p.is_file() and TEMP_NAME.match(p.name)]
    assert left == []


def test_bounded_load_without_errors(open_server: str, gtzan_mini: Path) -> None:
    y, sr = sf.read(_clip(gtzan_mini, "disco"), dtype="float32")
    body = _encoded(y[: 4 * sr], "WAV", sr)

    def one(i: int) -> int:
        return _post(open_server, "/classify", files={"audio": (f"disco-{i}.wav", body)}).status_code

    with ThreadPoolExecutor(16) as pool:
        codes = list(pool.map(one, range(200)))
    assert codes.count(200) == 200, {c: codes.count(c) for c in set(codes)}


def test_served_probabilities_equal_genre_predict(open_server: str, gtzan_mini: Path, champion: dict) -> None:
    clips = [_clip(gtzan_mini, g) for g in ("country", "hiphop", "reggae")]
    out = subprocess.run([str(BIN / "genre"), "--home", champion["home"], "predict", "--json", *map(str, clips)],
                         capture_output=True, text=True, cwd=ROOT, timeout=300, env=_env(champion))
    assert out.returncode == 0, out.stderr
    local = [json.loads(line) for line in out.stdout.splitlines()]
    for clip, expected in zip(clips, local):
        served = _post(open_server, "/classify", files={"audio": (clip.name, clip.read_bytes())}).json()
        assert served["genre"] == expected["genre"] and served["model"] == expected["model"]
        gap = max(abs(served["probabilities"][k] - v) for k, v in expected["probabilities"].items())
        assert gap <= 1e-6, f"{clip.name}: served and `genre predict` differ by {gap}"


def test_schema_fuzzed_without_server_errors(open_server: str, workdir: Path) -> None:
    out = subprocess.run([str(BIN / "schemathesis"), "run", f"{open_server}/docs.json", "--url", open_server,
                          "--checks", "not_a_server_error", "--max-examples", "25", "--generation-deterministic",
                          "--request-timeout", "60"],
                         capture_output=True, text=True, cwd=workdir, timeout=600)
    assert out.returncode == 0, out.stdout[-6000:] + out.stderr[-2000:]
    assert "Tested: 8" in out.stdout, out.stdout[-3000:]  # classify(_batch), feedback, model, BentoML's four


def test_token_and_default_bind_address(locked_server: tuple[str, int], gtzan_mini: Path) -> None:
    base, port = locked_server
    listening = [line.split() for line in Path("/proc/net/tcp").read_text().splitlines()[1:]]
    ours = [f[1] for f in listening if f[3] == "0A" and f[1].endswith(f":{port:04X}")]
    assert ours == [f"0100007F:{port:04X}"], ours  # bound to 127.0.0.1 only, as serve.host says
    clip = _clip(gtzan_mini, "blues")
    upload = {"audio": (clip.name, clip.read_bytes())}
    _refused(_post(base, "/classify", files=upload), 401, "Authorization: Bearer")
    _refused(_post(base, "/classify", files=upload, headers={"Authorization": "Bearer nope"}), 401, "wrong")
    _refused(httpx.get(f"{base}/model", timeout=10), 401, "Bearer")
    assert httpx.get(f"{base}/readyz", timeout=10).status_code == 200  # probes stay open
    auth = {"Authorization": f"Bearer {TOKEN}"}
    assert httpx.get(f"{base}/model", headers=auth, timeout=10).json()["limits"]["over_duration"] == "refuse"
    y, sr = sf.read(clip, dtype="float32")
    answer = _post(base, "/classify", files={"audio": ("five.wav", _encoded(y[: 5 * sr], "WAV", sr))}, headers=auth)
    assert answer.status_code == 200, answer.text
    _refused(_post(base, "/classify", files=upload, headers=auth, data={"segments": "false"}), 413,
             clip.name, "serve.max_seconds")  # over the 10 s limit: refused, not cut


def _serve_and_ask_model(champion: dict[str, str], workdir: Path, name: str) -> str:
    """Start `genre serve` on the home's champion, return the tag GET /model names, stop it."""
    port = free_port()
    server = start([str(BIN / "genre"), "--home", champion["home"], "serve", "--port", str(port)], _env(champion),
                   workdir / f"{name}.log", cwd=workdir)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: httpx.get(f"{base}/readyz", timeout=2).status_code == 200, 180, "genre serve", server)
        return httpx.get(f"{base}/model", timeout=30).raise_for_status().json()["tag"]
    finally:
        stop(server)


def test_promote_by_hand_then_rollback_and_the_service_follows(champion: dict, workdir: Path) -> None:
    from genre.serving import registry

    home = Path(champion["home"])
    second = registry.save_model(workdir / "predictor", "genre-classifier", {"data_version": "a retrained copy"},
                                 {"stage": "test"})

    def models(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([str(BIN / "genre"), "--home", str(home), "models", *args], capture_output=True,
                              text=True, env=_env(champion), timeout=300)

    assert models("promote", second).returncode == 0
    assert _serve_and_ask_model(champion, workdir, "promoted") == second  # a Bento is built for it on demand
    back = models("rollback")
    assert back.returncode == 0 and f"champion is now {champion['tag']} again" in back.stdout
    assert _serve_and_ask_model(champion, workdir, "rolled-back") == champion["tag"]
