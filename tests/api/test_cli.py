"""``reflectseq apikey``, ``submit`` and ``status`` against a real server on loopback."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from reflectseq.cli import app as cli
from reflectseq.db.models import ApiKey
from reflectseq.db.session import transaction
from reflectseq.enums import ApiRole
from reflectseq.ingest.records import InputFormat
from reflectseq.store.api_keys import hash_key
from tests.ingest.layouts import LAYOUTS, encode

runner = CliRunner()


@pytest.fixture
def live_url(app: FastAPI) -> Iterator[str]:
    """The app served by uvicorn in a thread, as ``reflectseq serve`` would serve it."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


def test_apikey_create_shows_the_key_once_and_stores_its_hash(
    app: FastAPI, pg_session_factory: sessionmaker[Session]
) -> None:
    # ``app`` points REFLECTSEQ_DATABASE_URL at the test database, which the command uses.
    result = runner.invoke(cli, ["apikey", "create", "--role", "submitter", "--name", "ci"])
    assert result.exit_code == 0, result.output
    plain = result.stdout.strip().splitlines()[0]
    with transaction(pg_session_factory) as session:
        row = session.scalar(select(ApiKey))
        assert row is not None
        assert (row.name, row.role, row.key_hash) == ("ci", ApiRole.SUBMITTER, hash_key(plain))
    listed = runner.invoke(cli, ["apikey", "list"])
    assert row.prefix in listed.stdout
    assert plain not in listed.stdout
    assert runner.invoke(cli, ["apikey", "create", "--role", "root"]).exit_code != 0
    assert runner.invoke(cli, ["apikey", "revoke", str(row.id)]).exit_code == 0
    assert runner.invoke(cli, ["apikey", "revoke", str(row.id)]).exit_code == 1


def test_submit_and_status(live_url: str, keys: dict[ApiRole, str], tmp_path: Path) -> None:
    tasks = tmp_path / "tasks.jsonl"
    rows = [{"text": f"Write f{i}.", "language": "py"} for i in range(3)]
    tasks.write_text("".join(json.dumps(row) + "\n" for row in [*rows, rows[0]]))
    common = ["--api-url", live_url, "--api-key", keys[ApiRole.SUBMITTER]]

    submitted = runner.invoke(cli, ["submit", str(tasks), "--name", "cli", *common])
    assert submitted.exit_code == 0, submitted.output
    assert "3 instructions, 1 duplicates skipped" in submitted.stdout
    assert "line 4 repeats line 1" in submitted.stdout
    set_id = submitted.stdout.split()[1].rstrip(":")

    # The set is handed to the broker by a background task after the response, so a loaded
    # machine may still show it pending for a moment.
    deadline = time.monotonic() + 60
    while True:
        status = runner.invoke(cli, ["status", set_id, *common])
        assert status.exit_code == 0, status.output
        assert "'cli'" in status.stdout
        if "3 sequences (queued 3)" in status.stdout or time.monotonic() > deadline:
            break
        assert "3 sequences (pending 3)" in status.stdout, status.stdout
        time.sleep(0.1)
    assert "3 sequences (queued 3)" in status.stdout


def test_submit_reports_line_errors(
    live_url: str, keys: dict[ApiRole, str], tmp_path: Path
) -> None:
    tasks = tmp_path / "bad.jsonl"
    tasks.write_text('{"text": "ok", "language": "py"}\n{"text": "x", "language": "cobol"}\n')
    result = runner.invoke(
        cli, ["submit", str(tasks), "--api-url", live_url, "--api-key", keys[ApiRole.SUBMITTER]]
    )
    assert result.exit_code == 1
    assert "line 2 language: unknown language 'cobol'" in result.stderr
    missing = runner.invoke(
        cli, ["status", "999999", "--api-url", live_url, "--api-key", keys[ApiRole.REVIEWER]]
    )
    assert missing.exit_code == 1
    assert "404" in missing.stderr


@pytest.mark.parametrize("config", ['{"max_rounds": 2', "[1, 2]"])
def test_submit_refuses_a_bad_config_file_before_uploading(tmp_path: Path, config: str) -> None:
    tasks = tmp_path / "tasks.jsonl"
    tasks.write_text('{"text": "ok", "language": "py"}\n')
    bad = tmp_path / "bad.json"
    bad.write_text(config)
    # No server listens on port 9: the error must come before any upload.
    result = runner.invoke(
        cli, ["submit", str(tasks), "--config", str(bad), "--api-url", "http://127.0.0.1:9"]
    )
    assert result.exit_code == 2
    assert f"--config {bad}" in result.stderr
    assert "Traceback" not in result.output + result.stderr


def test_submit_reads_other_layouts_through_a_preset(
    live_url: str, keys: dict[ApiRole, str], tmp_path: Path
) -> None:
    tasks = tmp_path / "oss.csv"
    layout = LAYOUTS["oss-instruct"]
    tasks.write_bytes(encode([*layout.rows, layout.rows[0]], InputFormat.CSV))
    common = ["--api-url", live_url, "--api-key", keys[ApiRole.SUBMITTER]]

    submitted = runner.invoke(cli, ["submit", str(tasks), "--preset", "oss-instruct", *common])

    assert submitted.exit_code == 0, submitted.output
    assert "2 instructions, 1 duplicates skipped" in submitted.stdout
    assert "line 4 repeats line 2" in submitted.stdout  # CSV lines; the header is line 1
    typo = runner.invoke(cli, ["submit", str(tasks), "--field", "txt=problem", *common])
    assert typo.exit_code == 2
    assert "--field: unknown field 'txt'" in typo.stderr
