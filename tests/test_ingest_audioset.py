"""AudioSet: the real CSVs parsed and mapped, and segments fetched from a stand-in for YouTube."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from genre.config import AudioSetConfig, load_config
from genre.data.catalog import Catalog
from genre.data.ingest.audioset import LABEL_INDEX, ingest_audioset, map_segments, read_label_index, read_segments
from genre.data.store import BlobStore
from tests.audio_server import AudioServer, convert
from tests.conftest import SHARED_DATA

AUDIOSET = SHARED_DATA / "audioset"
SEVEN = {"hip-hop", "pop", "reggae", "rhythm-and-blues", "rock", "techno", "vocal"}


@pytest.fixture(scope="module")
def audioset() -> Path:
    if not (AUDIOSET / LABEL_INDEX).is_file():
        pytest.skip(f"AudioSet CSVs not found at {AUDIOSET} (../shared/data/audioset beside the repo)")
    return AUDIOSET


def _raw_rows(path: Path) -> list[list[str]]:
    """The segment CSV read independently of the code under test."""
    with open(path, newline="") as f:
        return [row for row in csv.reader((line for line in f if not line.startswith("#")), skipinitialspace=True)]


def test_real_csvs_parse_and_map_to_the_seven_genres(audioset: Path) -> None:
    index = read_label_index(audioset / LABEL_INDEX)
    assert len(index) == 527 and index["/m/064t9"] == "Pop music"
    mid_of = {name: mid for mid, name in index.items()}
    genre_mids = {mid_of[name]: genre for name, genre in AudioSetConfig().genres.items()}
    for name in ("balanced_train_segments.csv", "eval_segments.csv"):
        segments, problems = read_segments(audioset / name)
        raw = _raw_rows(audioset / name)
        assert problems == [] and len(segments) == len(raw)
        assert segments[0].ytid == raw[0][0] and segments[0].labels == tuple(raw[0][3].split(","))
        drop = map_segments(segments, index, AudioSetConfig(), "https://www.youtube.com/watch?v={ytid}")
        first = map_segments(segments, index, AudioSetConfig(multi_label="first"), "{ytid}")
        # an independent count: segments whose tags name exactly one / several of the seven genres
        tagged = [{genre_mids[m] for m in row[3].split(",") if m in genre_mids} for row in raw]
        assert len(drop.items) == sum(len(t) == 1 for t in tagged)
        assert drop.ambiguous == sum(len(t) > 1 for t in tagged) > 0
        assert len(first.items) == len(drop.items) + drop.ambiguous and first.ambiguous == 0
        assert drop.unmapped == first.unmapped == sum(not t for t in tagged)
        assert set(drop.by_genre) == SEVEN and min(drop.by_genre.values()) >= 40
        item = drop.items[0]
        assert item.url == f"https://www.youtube.com/watch?v={item.source_id[8:19]}"
        assert item.end - item.start == pytest.approx(10.0)
    capped = map_segments(segments, index, AudioSetConfig(), "{ytid}", per_genre=5)
    assert dict(capped.by_genre) == dict.fromkeys(SEVEN, 5) and capped.capped > 0


def test_multi_label_rule_takes_the_first_genre_of_the_mapping(audioset: Path) -> None:
    index = read_label_index(audioset / LABEL_INDEX)
    segments, _ = read_segments(audioset / "balanced_train_segments.csv")
    hiphop_rnb = [s for s in segments if {"/m/0glt670", "/m/06j6l"} <= set(s.labels)]
    assert hiphop_rnb, "the balanced set has clips tagged Hip hop music and Rhythm and blues"
    order = {"Rhythm and blues": "rnb", "Hip hop music": "hip-hop"}
    first = map_segments(hiphop_rnb, index, AudioSetConfig(genres=order, multi_label="first"), "{ytid}")
    assert {i.label for i in first.items} == {"rnb"}
    reordered = AudioSetConfig(genres=dict(reversed(order.items())), multi_label="first")
    assert {i.label for i in map_segments(hiphop_rnb, index, reordered, "{ytid}").items} == {"hip-hop"}
    # two ontology classes mapped to one genre are not ambiguous
    merged = AudioSetConfig(genres={"Rhythm and blues": "urban", "Hip hop music": "urban"})
    assert len(map_segments(hiphop_rnb, index, merged, "{ytid}").items) == len(hiphop_rnb)
    with pytest.raises(ValueError, match="Hip-hop music"):
        map_segments(segments, index, AudioSetConfig(genres={"Hip-hop music": "hip-hop"}), "{ytid}")


def test_audioset_segments_download_from_a_stand_in_server(gtzan_mini: Path, audioset: Path,
                                                          tmp_path: Path) -> None:
    www = tmp_path / "www"
    www.mkdir()
    convert(gtzan_mini / "pop" / "pop.00001.wav", www / "popAAAAAAAA.webm", seconds=12)
    convert(gtzan_mini / "reggae" / "reggae.00001.wav", www / "reggaeAAAAA.webm", seconds=12)
    segments_csv = tmp_path / "segments.csv"
    segments_csv.write_text("\n".join([
        "# Segments csv in the AudioSet layout",
        "# YTID, start_seconds, end_seconds, positive_labels",
        'popAAAAAAAA, 2.000, 7.000, "/m/064t9,/m/04rlf"',  # Pop music, Music
        'reggaeAAAAA, 0.000, 4.000, "/m/06cqb"',  # Reggae
        'missingAAAA, 0.000, 10.000, "/m/06by7"',  # Rock music, not on the server
        'ambiguousAA, 0.000, 10.000, "/m/064t9,/m/06by7"',  # Pop and Rock: dropped
        'speechAAAAA, 0.000, 10.000, "/m/09x0r"',  # Speech: no genre
        "broken line without fields",
    ]) + "\n")
    with AudioServer(www) as server:
        cfg = load_config(home=str(tmp_path / "home"), **{
            "ingest.youtube_url": server.url("{ytid}.webm"), "ingest.retries": 0, "ingest.timeout": 2})
        summary, mapping = ingest_audioset(segments_csv, BlobStore(cfg.store_dir), Catalog(cfg.catalog_path),
                                           cfg.ingest, cfg.audioset, cfg.download_dir,
                                           index_csv=audioset / LABEL_INDEX, progress=False)
    assert mapping.ambiguous == 1 and mapping.unmapped == 1
    assert len(mapping.invalid) == 1 and "segments.csv:8" in mapping.invalid[0]
    assert dict(summary.by_label) == {"pop": 1, "reggae": 1} and summary.by_status["failed"] == 1
    frame = Catalog(cfg.catalog_path).frame().set_index("source_id")
    assert (frame["source"] == "audioset:segments").all()
    assert frame.loc["youtube:popAAAAAAAA#t=2,7", "duration"] == pytest.approx(5.0, abs=0.05)
    assert frame.loc["youtube:reggaeAAAAA#t=0,4", "duration"] == pytest.approx(4.0, abs=0.05)
    assert "HTTP error 404" in frame.loc["youtube:missingAAAA#t=0,10", "reason"]
