"""The Prefect ``ingest`` flow (network-only retries, summary artifact) and the ``genre ingest`` command."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from flows.cli import main
from flows.ingest import NetworkFailures, network_only
from genre.config import IngestSettings
from genre.data.catalog import Catalog
from genre.data.ingest import IngestSummary
from tests.audio_server import AudioServer, convert


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _artifact_markdown() -> str:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    with get_client(sync_client=True) as client:
        found = client.read_artifacts(artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=["genre-ingest"])),
                                      limit=1, sort="CREATED_DESC")
    return found[0].data


def test_retry_condition_accepts_only_network_failures() -> None:
    from prefect.states import Failed

    assert network_only(None, None, Failed(data=NetworkFailures(IngestSummary("s", network_failures=["u"]))))
    assert not network_only(None, None, Failed(data=ValueError("HTTP error 404")))


def test_flow_retries_network_failures_and_posts_a_summary(prefect_api, gtzan_mini: Path, tmp_path: Path) -> None:
    from flows.ingest import ingest

    www = tmp_path / "www"
    www.mkdir()
    convert(gtzan_mini / "disco" / "disco.00000.wav", www / "disco.mp3", seconds=4)
    overrides = {"ingest.retries": 0, "ingest.timeout": 2, "ingest.flow_retries": 1, "ingest.flow_retry_delay": 0}
    with AudioServer(www) as server:
        manifest = tmp_path / "urls.csv"
        manifest.write_text(f"{server.url('disco.mp3')},disco\n{server.url('gone.mp3')},disco\n"
                            f"http://127.0.0.1:{_closed_port()}/down.mp3,disco\n")
        summary = ingest(source=str(manifest), home=str(tmp_path / "home"), settings=IngestSettings.from_dotted(overrides))
        # the refused connection made Prefect run the batch twice; the finished item was not fetched again
        assert server.hits["/gone.mp3"] == 2 and server.hits["/disco.mp3"] == 2
        assert summary.skipped == 1 and summary.by_status["failed"] == 2 and len(summary.network_failures) == 1
        assert "| disco | 1 |" not in _artifact_markdown()  # the last attempt's counts: disco was already done
        assert "| failed | 2 |" in _artifact_markdown() and "HTTP error 404" in _artifact_markdown()

        only_permanent = tmp_path / "gone.csv"
        only_permanent.write_text(f"{server.url('gone.mp3')},disco\n")
        summary = ingest(source=str(only_permanent), home=str(tmp_path / "home"), settings=IngestSettings.from_dotted(overrides))
        assert server.hits["/gone.mp3"] == 3  # a 404 is not retried
        assert summary.network_failures == []


def test_cli_ingests_the_real_folder_idempotently(prefect_api, gtzan_mini: Path, tmp_path: Path,
                                                  capsys: pytest.CaptureFixture) -> None:
    home = tmp_path / "home"
    assert main(["--home", str(home), "ingest", "folder", str(gtzan_mini)]) == 0
    assert "ok: 70" in capsys.readouterr().out
    frame = Catalog(home / "catalog.sqlite").frame()
    assert len(frame) == 70 and (frame["status"] == "ok").all()
    assert frame["label"].value_counts().to_dict() == {g: 7 for g in sorted(frame["label"].unique())}
    assert frame["label"].nunique() == 10 and (frame["sample_rate"] == 22050).all()
    assert "| ok | 70 |" in _artifact_markdown()
    assert main(["--home", str(home), "ingest", "folder", str(gtzan_mini)]) == 0
    assert "nothing new (70 already done)" in capsys.readouterr().out


def test_cli_reports_failures_with_exit_status_one(prefect_api, tmp_path: Path,
                                                   capsys: pytest.CaptureFixture) -> None:
    manifest = tmp_path / "bad.csv"
    manifest.write_text("file:///etc/hostname,rock\n")
    assert main(["--home", str(tmp_path / "home"), "ingest", "manifest", str(manifest)]) == 1
    assert "file:// URLs are refused" in capsys.readouterr().out

