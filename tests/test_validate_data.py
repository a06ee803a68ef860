"""Catalog and audio suites on planted faults, on a clean set and on the real GTZAN clips."""

from __future__ import annotations

from pathlib import Path

import pytest

from genre.config import Config, load_config
from genre.data.catalog import Catalog, item
from genre.data.ingest import ingest_folder, source_name
from genre.data.store import BlobStore
from genre.validation.runner import CRITICAL, WARNING, GXRun, ValidationError, ValidationReport
from genre.validation.suites import balance_rows, validate_data
from tests.planted import GENRES, plant_faults, plant_more_faults, write_clean


def run_validation(data: Path, cfg: Config, docs: Path | None = None) -> tuple[ValidationReport, Catalog, str]:
    catalog = Catalog(cfg.catalog_path)
    ingest_folder(data, BlobStore(cfg.store_dir), catalog, cfg.ingest, progress=False)
    run = GXRun(docs)
    report = validate_data(catalog.frame(), BlobStore(cfg.store_dir), cfg, run, progress=False)
    return report, catalog, source_name(data)


def catalog_row(source_id: str, clip: str, label: str, sha: str, status: str = "ok", **facts: object) -> dict:
    return {"clip_id": clip, "label": label, "source": "folder:x", "source_id": source_id, "sha256": sha * 64,
            "duration": 3.0, "sample_rate": 22050, "channels": 1, "status": status, "reason": "", **facts}


def failed(report: ValidationReport) -> dict[tuple[str, str], object]:
    return {(c.suite, c.column): c for c in report.checks if not c.success}


def test_planted_faults_are_caught_with_their_severity_and_names(tmp_path: Path) -> None:
    data = write_clean(tmp_path / "data")
    planted = plant_faults(data)
    cfg = load_config(home=str(tmp_path / "home"), workers=1, genres=[*GENRES, "synth-waltz"])
    report, _, source = run_validation(data, cfg)
    name = {k: item(source, v) for k, v in planted.items()}
    fails = failed(report)
    expected = {  # (suite, column): (severity, expectation, fault)
        ("catalog", "label"): (WARNING, "expect_column_values_to_be_in_set", "label"),
        ("audio", "rms"): (WARNING, "expect_column_values_to_be_between", "silent"),
        ("audio", "clipped_share"): (WARNING, "expect_column_values_to_be_between", "clipped"),
        ("catalog", "exact_duplicate_of"): (WARNING, "expect_column_values_to_be_null", "exact"),
        ("audio", "near_duplicate_similarity"): (WARNING, "expect_column_values_to_be_between", "near"),
        ("audio", "length_ratio"): (WARNING, "expect_column_values_to_be_between", "truncated"),
        ("catalog", "duration"): (WARNING, "expect_column_values_to_be_between", "short"),
        ("balance", "clips"): (CRITICAL, "expect_column_values_to_be_between", None),
    }
    assert set(fails) == set(expected), report.table()
    for key, (severity, expectation, fault) in expected.items():
        check = fails[key]
        assert (check.severity, check.expectation) == (severity, expectation), check.line()
        if fault:
            assert check.offending == [name[fault]], check.line()
    assert fails[("balance", "clips")].offending == ["synth-waltz"]
    # the duplicates name what they duplicate, so the original stays in training
    assert name["exact"] in fails[("catalog", "exact_duplicate_of")].line()
    assert item(source, "synth-techno/synth-techno.000.wav") in fails[("catalog", "exact_duplicate_of")].line()
    assert item(source, "synth-techno/synth-techno.001.wav") in fails[("audio", "near_duplicate_similarity")].line()
    # the unreadable file failed ingestion: named by the ingestion check, within the tolerated share
    ingestion = next(c for c in report.checks if c.suite == "ingestion")
    assert ingestion.success and ingestion.offending == [name["unreadable"]]
    assert "not decodable" in ingestion.details[name["unreadable"]]
    # warnings quarantine exactly the planted items
    quarantine = report.quarantine()
    assert set(quarantine) == {name[k] for k in ("label", "silent", "clipped", "exact", "near", "truncated", "short")}
    assert "rms" in quarantine[name["silent"]]
    # the critical one stops the run with the expectation, the observed value and the offenders
    with pytest.raises(ValidationError) as err:
        report.raise_for_critical()
    message = str(err.value)
    assert "balance: expect_column_values_to_be_between on clips" in message
    assert "observed: 1 of 4 unexpected" in message and "synth-waltz" in message


def test_too_many_failed_ingestions_are_critical(tmp_path: Path) -> None:
    data = write_clean(tmp_path / "data", per_genre=3)
    for i in range(3):
        (data / "synth-funk" / f"broken{i}.wav").write_bytes(b"RIFF....WAVEfmt truncated")
    cfg = load_config(home=str(tmp_path / "home"), workers=1, **{"validation.max_failed_share": 0.2})
    report, _, source = run_validation(data, cfg)
    assert [c.suite for c in report.critical] == ["ingestion"]
    check = report.critical[0]
    assert check.offending == [item(source, f"synth-funk/broken{i}.wav") for i in range(3)]
    assert "3 of 12 unexpected" in str(check.observed)


def test_clean_set_passes_and_writes_offline_data_docs(tmp_path: Path) -> None:
    data = write_clean(tmp_path / "data")
    cfg = load_config(home=str(tmp_path / "home"), workers=1, genres=list(GENRES))
    run = GXRun(tmp_path / "run" / "validation")
    catalog = Catalog(cfg.catalog_path)
    ingest_folder(data, BlobStore(cfg.store_dir), catalog, cfg.ingest, progress=False)
    report = validate_data(catalog.frame(), BlobStore(cfg.store_dir), cfg, run, progress=False)
    assert not report.critical and not report.warnings, report.table()
    assert {c.suite for c in report.checks} == {"catalog", "ingestion", "audio", "balance"}
    index = run.build_docs(report, "data")
    assert index is not None and index.is_file()
    site = index.parent / "gx" / "uncommitted" / "data_docs" / "local_site"
    pages = list(site.rglob("*.html"))
    assert len(list((site / "validations").rglob("*.html"))) == 4
    for page in pages:  # offline: no remote scripts, stylesheets or images
        text = page.read_text()
        assert 'src="http' not in text and "stylesheet\" href=\"http" not in text, page
    text = index.read_text()
    assert "passed" in text and "validations/audio/" in text
    # a configured genre without a clip is counted (as 0), not left out of the balance
    cfg = load_config(home=str(tmp_path / "home"), workers=1, genres=[*GENRES, "synth-polka"])
    report = validate_data(catalog.frame(), BlobStore(cfg.store_dir), cfg, GXRun(), progress=False)
    assert [(c.suite, c.column, c.offending) for c in report.critical] == [("balance", "clips", ["synth-polka"])]


def test_real_gtzan_clips_pass(gtzan_mini: Path, tmp_path: Path) -> None:
    cfg = load_config(home=str(tmp_path / "home"), workers=2)
    report, _, _ = run_validation(gtzan_mini, cfg)
    assert not report.critical and not report.warnings, report.table()
    balance = next(c for c in report.checks if c.suite == "balance" and c.column == "clips")
    assert balance.success
    near = next(c for c in report.checks if c.column == "near_duplicate_similarity")
    assert near.success and near.offending == []


def _tripped(report: ValidationReport) -> dict[tuple[str, str, str], object]:
    return {(c.suite, c.expectation, c.column): c for c in report.checks if not c.success}


def _key(suite: str, exp) -> tuple[str, str, str]:
    return suite, exp.expectation_type, getattr(exp, "column", None) or ""


def test_every_expectation_of_the_data_suites_has_a_planted_fault_that_trips_it(tmp_path: Path) -> None:
    from genre.validation.suites import (
        audio_expectations,
        balance_expectations,
        catalog_expectations,
        catalog_rows,
        ingestion_expectations,
    )

    data = write_clean(tmp_path / "data")
    planted = {**plant_faults(data), **plant_more_faults(data)}
    # max_class_ratio 3: synth-waltz's single clip against four of the others is the imbalance planted
    cfg = load_config(home=str(tmp_path / "home"), workers=1, genres=[*GENRES, "synth-waltz"],
                      **{"validation.max_class_ratio": 3, "validation.max_failed_share": 0.01})
    catalog, store = Catalog(cfg.catalog_path), BlobStore(cfg.store_dir)
    ingest_folder(data, store, catalog, cfg.ingest, progress=False)
    source = source_name(data)
    damaged = catalog.frame().set_index("source_id").loc["synth-ambient/synth-ambient.003.wav", "sha256"]
    store.path(damaged).chmod(0o644)
    store.path(damaged).write_bytes(b"RIFF" + bytes(40))  # a stored blob damaged on disk after ingestion
    report = validate_data(catalog.frame(), store, cfg, GXRun(), progress=False)
    name = {k: item(source, v) for k, v in planted.items()}
    tripped = _tripped(report)
    expect = {e: e for e in (
        ("catalog", "expect_column_values_to_be_between", "labels_per_clip"),
        ("catalog", "expect_column_values_to_be_in_set", "sample_rate"),
        ("catalog", "expect_column_values_to_be_between", "channels"),
        ("audio", "expect_column_values_to_be_between", "nonfinite_share"),
        ("audio", "expect_column_values_to_be_between", "clipped_share"),
        ("balance", "expect_column_max_to_be_between", "ratio_to_smallest"),
        ("ingestion", "expect_column_values_to_be_in_set", "status"),
        ("audio", "expect_column_values_to_be_in_set", "decodable"),
    )}
    assert set(expect) <= set(tripped), report.table()
    labels = tripped[("catalog", "expect_column_values_to_be_between", "labels_per_clip")].offending
    assert name["relabelled"] in labels and item(source, "synth-funk/synth-funk.000.wav") in labels
    assert tripped[("catalog", "expect_column_values_to_be_in_set", "sample_rate")].offending == [name["rate"]]
    assert tripped[("catalog", "expect_column_values_to_be_between", "channels")].offending == [name["channels"]]
    assert tripped[("audio", "expect_column_values_to_be_between", "nonfinite_share")].offending == [name["nonfinite"]]
    assert name["stereo_clipped"] in tripped[("audio", "expect_column_values_to_be_between", "clipped_share")].offending
    assert name["hires"] not in report.quarantine()  # 96 kHz is ordinary studio audio
    damaged_item = item(source, "synth-ambient/synth-ambient.003.wav")
    undecodable = tripped[("audio", "expect_column_values_to_be_in_set", "decodable")]
    assert undecodable.offending == [damaged_item] and "decode_error=" in undecodable.details[damaged_item]
    assert tripped[("audio", "expect_column_values_to_be_between", "length_ratio")].offending == [name["truncated"]]

    # the structural checks of the catalog, planted in the rows themselves
    ok = catalog_rows(catalog.frame())
    bad = ok.copy()
    bad.loc[0, "label"] = None
    bad.loc[1, "sha256"] = "not-a-hash"
    bad.loc[2, "clip_id"] = bad.loc[3, "clip_id"]
    bad["sha256s_per_clip"] = bad.groupby("clip_id")["sha256"].transform("nunique")
    bad = bad.astype({"duration": object})
    bad.loc[4, "duration"] = "three"
    run = GXRun()

    def exps() -> list:  # GX binds an expectation to the suite that ran it: a fresh list per run
        return catalog_expectations(cfg.validation, None, cfg.features.min_seconds)

    structural = _tripped(ValidationReport(run.run("catalog", bad, exps(), ["item"])))
    items = bad["item"].tolist()
    assert structural[("catalog", "expect_column_values_to_not_be_null", "label")].offending == [items[0]]
    assert structural[("catalog", "expect_column_values_to_match_regex", "sha256")].offending == [items[1]]
    assert structural[("catalog", "expect_column_values_to_be_between", "sha256s_per_clip")].offending == items[2:4]
    # a string among the durations makes the column an object column, whose every value GX then reports
    assert items[4] in structural[("catalog", "expect_column_values_to_be_in_type_list", "duration")].offending
    tripped.update(structural)
    for column in ("clip_id", "label", "source", "source_id", "sha256", "duration", "sample_rate", "channels",
                   "status", "reason"):
        missing_column = _tripped(ValidationReport(run.run("catalog", bad.drop(columns=[column]), exps(), ["item"])))
        assert ("catalog", "expect_column_to_exist", column) in missing_column
        tripped.update(missing_column)
    one_genre = balance_rows(ok[ok["label"] == "synth-funk"], None)
    tripped.update(_tripped(ValidationReport(run.run("balance", one_genre, balance_expectations(cfg.validation),
                                                     ["label"]))))
    everything = ([_key("catalog", e) for e in exps()] + [_key("catalog", e) for e in
                  catalog_expectations(cfg.validation, list(GENRES), cfg.features.min_seconds)]
                  + [_key("ingestion", e) for e in ingestion_expectations(cfg.validation)]
                  + [_key("audio", e) for e in audio_expectations(cfg.validation)]
                  + [_key("balance", e) for e in balance_expectations(cfg.validation)])
    missing = sorted(set(everything) - set(tripped))
    assert not missing, missing
    # what stops a run: a catalog that is not structurally sound, too many failed ingestions, a genre too small;
    # the rest warns (and quarantines the items it names)
    structure = {"expect_column_to_exist", "expect_column_values_to_be_in_type_list",
                 "expect_column_values_to_not_be_null"}
    for suite, expectation, column in everything:
        critical = (suite == "ingestion" or (suite == "balance" and column in ("", "clips"))
                    or (suite == "catalog" and (expectation in structure or column.startswith("sha256"))))
        assert tripped[suite, expectation, column].severity == (CRITICAL if critical else WARNING), (
            suite, expectation, column)


def test_catalog_rows_are_the_usable_items_with_their_duplicates_and_clip_facts() -> None:
    import pandas as pd

    from genre.validation.suites import catalog_rows

    frame = pd.DataFrame([catalog_row("b.wav", "c1", "rock", "b"), catalog_row("a.wav", "c1", "rock", "a"),
                          catalog_row("c.wav", "c2", "jazz", "a"), catalog_row("d.wav", "c2", "pop", "d"),
                          catalog_row("e.wav", "c3", "rock", "e", status="failed")])
    ok = catalog_rows(frame)
    assert ok["item"].tolist() == ["folder:x:a.wav", "folder:x:b.wav", "folder:x:c.wav", "folder:x:d.wav"]
    # the first item (in catalog order) of a content is the original; later ones name it
    assert ok["exact_duplicate_of"].fillna("").tolist() == ["", "", "folder:x:a.wav", ""]
    assert ok["sha256s_per_clip"].tolist() == [2, 2, 2, 2] and ok["labels_per_clip"].tolist() == [1, 1, 2, 2]
    assert ok["exact_duplicate_of"].dtype == object and ok["item"].dtype == object
    assert ok.columns[0] == "item" and "index" not in ok.columns  # Data Docs tables start with the item


def test_balance_counts_clips_per_genre_against_the_smallest() -> None:
    import pandas as pd

    ok = pd.DataFrame({"item": list("1234567"), "clip_id": ["a", "a", "b", "c", "d", "e", "f"],
                       "label": ["rock", "rock", "rock", "jazz", "jazz", "jazz", "jazz"]})
    table = balance_rows(ok, None)
    assert dict(zip(table["label"], table["clips"])) == {"jazz": 4, "rock": 2}  # one row per clip, not per item
    assert dict(zip(table["label"], table["ratio_to_smallest"])) == {"jazz": 2.0, "rock": 1.0}
    configured = balance_rows(ok, ["rock", "jazz", "polka"])
    assert configured["label"].tolist() == ["rock", "jazz", "polka"] and configured["clips"].tolist() == [2, 4, 0]
    assert configured["ratio_to_smallest"].tolist() == [2.0, 4.0, 0.0]  # against one clip when a genre has none
    empty = balance_rows(ok.head(0), None)
    assert len(empty) == 0 and list(empty.columns) == ["label", "clips", "ratio_to_smallest"]


def _offenders(checks: list) -> dict[tuple[str, str], list[str]]:
    return {(c.expectation, c.column): c.offending for c in checks if not c.success}


def test_each_bound_passes_on_the_edge_and_trips_past_it() -> None:
    """The limits of the catalog, audio and balance suites on hand-made rows: a value on a bound passes, one past it
    is named, and a cell of the wrong type is named by the type check alone."""
    import pandas as pd

    from genre.config import ValidationConfig
    from genre.validation.suites import audio_expectations, balance_expectations, catalog_expectations, catalog_rows

    cfg, run = ValidationConfig(), GXRun()
    frame = pd.DataFrame([
        catalog_row("edge.wav", "c1", "música-latina", "1", duration=cfg.max_duration, channels=1),
        catalog_row("long.wav", "c2", "rock", "2", duration=cfg.max_duration + 0.5),
        catalog_row("mute.wav", "c3", "rock", "3", channels=0),
        catalog_row("shout.wav", "c4", "Rock Music", "4"),
        catalog_row("typed.wav", "c5", "rock", "5"),
    ])
    ok = catalog_rows(frame)
    ok.loc[ok["source_id"] == "typed.wav", "source_id"] = 5  # a number where the catalog keeps strings
    named = _offenders(run.run("catalog", ok, catalog_expectations(cfg, None, 1.0), ["item"]))
    assert named == {
        ("expect_column_values_to_be_between", "duration"): ["folder:x:long.wav"],
        ("expect_column_values_to_be_between", "channels"): ["folder:x:mute.wav"],
        ("expect_column_values_to_match_regex", "label"): ["folder:x:shout.wav"],  # folded and dashed, any alphabet
        ("expect_column_values_to_be_in_type_list", "source_id"): ["folder:x:typed.wav"],
    }

    edge = {"decodable": True, "decode_error": None, "rms": 0.1, "clipped_share": cfg.max_clipped_share,
            "nonfinite_share": 0.0, "near_duplicate_of": None}
    audio = pd.DataFrame([
        {"item": "low", "clip_id": "low", **edge, "length_ratio": 1.0 - cfg.max_length_mismatch,
         "near_duplicate_similarity": 0.0},
        {"item": "high", "clip_id": "high", **edge, "length_ratio": 1.0 + cfg.max_length_mismatch,
         "near_duplicate_similarity": cfg.near_duplicate_similarity - 1e-4},
        {"item": "longer", "clip_id": "longer", **edge, "length_ratio": 1.0 + cfg.max_length_mismatch + 0.01,
         "near_duplicate_similarity": 0.5},
        {"item": "twin", "clip_id": "twin", **edge, "length_ratio": 1.0,
         "near_duplicate_similarity": cfg.near_duplicate_similarity},  # the threshold itself is a near duplicate
    ]).astype({"item": object, "clip_id": object, "decode_error": object, "near_duplicate_of": object})
    named = _offenders(run.run("audio", audio, audio_expectations(cfg), ["item"]))
    assert named == {("expect_column_values_to_be_between", "length_ratio"): ["longer"],
                     ("expect_column_values_to_be_between", "near_duplicate_similarity"): ["twin"]}

    two = balance_rows(pd.DataFrame({"clip_id": [f"c{i}" for i in range(6)], "label": ["rock", "jazz"] * 3}), None)
    assert _offenders(run.run("balance", two, balance_expectations(cfg), ["label"])) == {}  # two genres are enough


def test_audio_rows_name_near_duplicates_of_any_earlier_clip_and_keep_undecodable_ones_apart(tmp_path: Path) -> None:
    import numpy as np
    import pandas as pd
    import soundfile as sf

    from genre.data.demo import STYLES, render_clip
    from genre.validation.suites import audio_rows

    cfg = load_config(home=str(tmp_path / "home"), workers=1)
    store, rate = BlobStore(cfg.store_dir), 22050
    first = render_clip(STYLES["synth-funk"], seed=1, seconds=3.0)
    signals = {"first": first, "echo": np.concatenate([np.zeros(int(0.004 * rate)), first]),  # 4 ms later
               "other": render_clip(STYLES["synth-ambient"], seed=2, seconds=3.0)}
    shas = []
    for name, y in signals.items():
        sf.write(tmp_path / f"{name}.wav", y, rate)
        shas.append(store.put(tmp_path / f"{name}.wav"))
    (tmp_path / "broken.wav").write_bytes(b"RIFF" + bytes(40))
    shas.append(store.put(tmp_path / "broken.wav"))
    ok = pd.DataFrame({"item": ["first", "echo", "other", "broken"], "clip_id": ["1", "2", "3", "4"],
                       "sha256": shas, "sample_rate": rate, "duration": [3.0, 3.004, 3.0, 3.0]})
    rows = audio_rows(ok, store, cfg, progress=False)
    assert rows.columns.tolist() == ["item", "clip_id", "decodable", "decode_error", "length_ratio", "rms",
                                     "clipped_share", "nonfinite_share", "near_duplicate_similarity",
                                     "near_duplicate_of"]
    assert rows["near_duplicate_of"].fillna("").tolist() == ["", "first", "", ""]  # the first clip is a match too
    assert rows["decodable"].tolist() == [True, True, True, False]
    assert rows["decode_error"].isna().tolist() == [True, True, True, False]
    similarity, ratio = rows["near_duplicate_similarity"], rows["length_ratio"]
    assert similarity[1] > cfg.validation.near_duplicate_similarity > similarity[2] and np.isnan(similarity[3])
    assert np.array_equal(similarity[:3], similarity[:3].round(4))  # shown as the report rounds it
    assert np.allclose(ratio[:3], 1.0, atol=1e-3) and np.isnan(ratio[3])
