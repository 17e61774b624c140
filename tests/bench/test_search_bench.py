"""The search benchmark runs end to end at a tiny scale (its figures are not checked here)."""

from __future__ import annotations

import os

import pytest

from bench.search import SEARCHES, main
from tests.conftest import DEFAULT_TEST_DATABASE_URL


def test_search_bench_runs_at_tiny_scale(capsys: pytest.CaptureFixture[str]) -> None:
    server = os.environ.get("REFLECTSEQ_TEST_DATABASE_URL", DEFAULT_TEST_DATABASE_URL)
    main(["--scale", "0.0002", "--repeat", "1", "--server", server])
    printed = capsys.readouterr().out
    assert "generated 200 sequences" in printed
    for label in SEARCHES:
        assert label in printed
    for page in ("queue page", "queue page, searched", "progress page"):
        assert f"  {page} " in printed
