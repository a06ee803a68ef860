"""The Prefect ``validate`` flow: quarantine on warnings, a stop on a critical failure, offline Data Docs."""

from __future__ import annotations

from pathlib import Path

import pytest

from flows.validate import validate
from genre.config import load_config
from genre.data.catalog import OK, QUARANTINED, Catalog, item
from genre.data.ingest import ingest_folder, source_name
from genre.data.store import BlobStore
from genre.validation.runner import ValidationError
from tests.planted import GENRES, plant_faults, write_clean


def test_flow_quarantines_warnings_and_stops_on_critical(prefect_api, tmp_path: Path) -> None:
    data = write_clean(tmp_path / "data")
    planted = plant_faults(data)
    cfg = load_config(home=str(tmp_path / "home"), workers=1, genres=list(GENRES))
    catalog, store = Catalog(cfg.catalog_path), BlobStore(cfg.store_dir)
    ingest_folder(data, store, catalog, cfg.ingest, progress=False)
    (data / "synth-waltz").rename(tmp_path / "waltz-aside")  # leave the critical fault out at first
    catalog.set_item_status({item(source_name(data), planted["few"]): "removed by the test"}, "failed")

    report = validate(cfg=cfg, run_dir=tmp_path / "run")
    assert not report.critical and len(report.warnings) == 7
    frame = catalog.frame().assign(item=lambda f: [item(s, i) for s, i in zip(f["source"], f["source_id"])])
    status = dict(zip(frame["item"], frame["status"]))
    reason = dict(zip(frame["item"], frame["reason"]))
    for fault in ("label", "silent", "clipped", "exact", "near", "truncated", "short"):
        key = item(source_name(data), planted[fault])
        assert status[key] == QUARANTINED and "failed data validation" in reason[key], (fault, reason[key])
    assert status[item(source_name(data), "synth-techno/synth-techno.000.wav")] == OK  # the original stays
    sha = frame.loc[frame["item"] == item(source_name(data), planted["silent"]), "sha256"].item()
    assert store.path(sha).is_file()  # quarantined, never deleted
    index = tmp_path / "run" / "validation" / "index.html"
    assert index.is_file() and "zz-silent.wav" in index.read_text()

    # a genre left with too few clips stops the flow; the message names the expectation and the genre
    cfg_few = load_config(home=str(tmp_path / "home"), workers=1, genres=[*GENRES, "synth-waltz"])
    with pytest.raises(ValidationError, match=r"balance: expect_column_values_to_be_between on clips .*synth-waltz"):
        validate(cfg=cfg_few, run_dir=tmp_path / "run2")
    assert (tmp_path / "run2" / "validation" / "index.html").is_file()
