"""Log records carry the set and sequence ids of their context, in plain and JSON form."""

from __future__ import annotations

import json
import logging

import pytest

from reflectseq.logs import configure_logging, log_context


@pytest.fixture(autouse=True)
def _restore_root_logger() -> object:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def test_json_lines_carry_context_ids(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("INFO", json=True)
    with log_context(set_id=3, sequence_id=9):
        logging.getLogger("reflectseq.test").info("step %s done", "generate")
    logging.getLogger("reflectseq.test").warning("outside")

    first, second = (json.loads(line) for line in capsys.readouterr().err.splitlines())
    assert first["message"] == "step generate done"
    assert (first["set_id"], first["sequence_id"], first["level"]) == (3, 9, "INFO")
    assert "set_id" not in second and second["level"] == "WARNING"


def test_plain_lines_show_context_and_nesting_restores_it(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure_logging("DEBUG")
    log = logging.getLogger("reflectseq.test")
    with log_context(set_id=1):
        with log_context(sequence_id=2):
            log.debug("inner")
        log.debug("outer")
    inner, outer = capsys.readouterr().err.splitlines()
    assert inner.endswith("reflectseq.test [set_id=1] [sequence_id=2]: inner")
    assert outer.endswith("reflectseq.test [set_id=1]: outer")


def test_configure_is_idempotent(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("INFO")
    configure_logging("INFO")
    logging.getLogger("reflectseq.test").info("once")
    assert capsys.readouterr().err.count("once") == 1
