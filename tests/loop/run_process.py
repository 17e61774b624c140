"""Helpers for tests that drive `reflectseq run` and workers as separate processes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import select

from reflectseq.db.models import Sequence
from reflectseq.db.session import session_factory_for
from reflectseq.enums import SequenceStatus
from reflectseq.settings import get_settings


def write_rows(path: Path, rows: list[dict[str, object]]) -> Path:
    """An instruction file of these rows."""
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


def start_run(source: Path, out: Path, *extra: str) -> subprocess.Popen[str]:
    """`reflectseq run` as a user starts it, its stderr a pipe (not a terminal)."""
    command = str(Path(sys.executable).parent / "reflectseq")
    return subprocess.Popen(
        [command, "run", str(source), "-o", str(out), *extra],
        env=dict(os.environ),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll until ``condition`` holds; fail naming ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)


def run_statuses() -> list[SequenceStatus]:
    """The status of every sequence in the configured database, in id order."""
    with session_factory_for(get_settings().database_url)() as session:
        return list(session.scalars(select(Sequence.status).order_by(Sequence.id)))


def interrupt(
    run: subprocess.Popen[str], *, signum: int = signal.SIGINT, bound_s: float = 15
) -> str:
    """Stop a run with ``signum`` (SIGINT: Ctrl-C); returns its stderr.

    Asserts that it exits with 128 + ``signum`` within ``bound_s``, saying it was interrupted.
    Stopping is meant to take well under 2 s; the default bound leaves room for a loaded machine.
    """
    interrupted = time.monotonic()
    run.send_signal(signum)
    try:
        _, stderr = run.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        run.kill()  # not left running behind a failed test
        run.communicate()
        raise
    stopped_after = time.monotonic() - interrupted
    print(f"stopped {stopped_after:.2f} s after signal {signum}")
    assert run.returncode == 128 + signum, stderr
    assert "interrupted" in stderr and "Traceback" not in stderr, stderr
    assert stopped_after < bound_s, stopped_after
    return stderr
