"""GENRE_MAX_WORKERS caps the worker processes of every config (bench/mutation.sh runs the tests with 1)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from genre.config import RunSettings, load_config


def test_the_cap_lowers_workers_asked_for_and_keeps_fewer(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GENRE_MAX_WORKERS", raising=False)
    assert load_config(workers=4).workers == 4
    monkeypatch.setenv("GENRE_MAX_WORKERS", "2")
    assert load_config(workers=4).workers == 2
    assert load_config(workers=1).workers == 1
    assert load_config().workers <= 2  # the default, one per core
    assert RunSettings(workers=8).config().workers == 2  # flow parameters too


@pytest.mark.parametrize("cap", ["0", "two", "-1"])
def test_a_cap_that_is_not_a_count_is_an_error_naming_it(monkeypatch: pytest.MonkeyPatch, cap: str) -> None:
    monkeypatch.setenv("GENRE_MAX_WORKERS", cap)
    with pytest.raises(ValidationError, match=f"GENRE_MAX_WORKERS must be a whole number >= 1, got '{cap}'"):
        load_config(workers=2)
