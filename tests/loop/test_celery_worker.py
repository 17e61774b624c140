"""Real Celery workers on Redis and Postgres: dispatch, cancellation, a SIGKILLed worker."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from redis import Redis
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from reflectseq.db.models import Block, Message, Sequence
from reflectseq.enums import BlockKind, SequenceStatus
from reflectseq.settings import Settings
from tests.loop.conftest import add_task, create_tasks, fenced_python
from tests.loop.llm_server import ScriptedLlm, answer
from tests.loop.run_process import wait_for

REDIS_URL = "redis://127.0.0.1:6379/13"  # a database of its own, away from other services
WRONG = "def add(a, b):\n    return a - b"
RIGHT = "def add(a, b):\n    return a + b"
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def worker_env(loop_env: Settings, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Environment of worker processes (and of dispatch in this process): a queue per test."""
    queue = f"reflectseq-test-{uuid.uuid4().hex[:8]}"
    values = {
        "REFLECTSEQ_REDIS_URL": REDIS_URL,
        "REFLECTSEQ_CELERY_QUEUE": queue,
        "REFLECTSEQ_STALE_AFTER_S": "3",
        "REFLECTSEQ_REAPER_INTERVAL_S": "1",
        "REFLECTSEQ_BROKER_VISIBILITY_TIMEOUT_S": "5",
    }
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    from reflectseq.settings import get_settings

    get_settings.cache_clear()
    return {**os.environ, **values}


@pytest.fixture
def start_worker(
    worker_env: dict[str, str],
) -> Iterator[Callable[..., subprocess.Popen[bytes]]]:
    """Start `reflectseq worker` processes, each in its own process group; killed at the end."""
    started: list[subprocess.Popen[bytes]] = []

    def start(*extra: str) -> subprocess.Popen[bytes]:
        process = subprocess.Popen(
            [
                str(Path(sys.executable).parent / "reflectseq"),
                "worker",
                "-c",
                "2",
                "--loglevel",
                "WARNING",
                *extra,
            ],
            env=worker_env,
            cwd=REPO,
            start_new_session=True,
        )
        started.append(process)
        return process

    yield start
    for process in started:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    Redis.from_url(REDIS_URL).delete(worker_env["REFLECTSEQ_CELERY_QUEUE"])


def _statuses(factory: sessionmaker[Session], set_id: int) -> list[SequenceStatus]:
    with factory() as session:
        return list(
            session.scalars(
                select(Sequence.status)
                .where(Sequence.instruction_set_id == set_id)
                .order_by(Sequence.id)
            )
        )


def test_dispatched_set_completes_on_a_worker(
    start_worker: Callable[[], subprocess.Popen[bytes]],
    llm_server: ScriptedLlm,
    key: str,
    pg_session_factory: sessionmaker[Session],
) -> None:
    from workers.dispatch import enqueue_instruction_set

    llm_server.script(key, [answer(fenced_python(RIGHT))])
    specs = [add_task(f"{key} #{n}") for n in range(3)]
    created = create_tasks(pg_session_factory, specs)
    start_worker()

    assert enqueue_instruction_set(created.set_id) == 3
    assert enqueue_instruction_set(created.set_id) == 0  # nothing pending any more

    wait_for(
        lambda: _statuses(pg_session_factory, created.set_id) == [SequenceStatus.COMPLETED] * 3,
        60,
        "the set to complete",
    )


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _scrape(port: int) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    try:
        body = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=2).text
    except httpx.HTTPError:
        return {}
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(body)
        for sample in family.samples
    }


def test_worker_serves_metrics_of_its_child_processes(
    start_worker: Callable[..., subprocess.Popen[bytes]],
    llm_server: ScriptedLlm,
    key: str,
    pg_session_factory: sessionmaker[Session],
) -> None:
    from workers.dispatch import enqueue_instruction_set

    llm_server.script(key, [answer(fenced_python(RIGHT))])
    created = create_tasks(
        pg_session_factory,
        [add_task(f"{key} #{n}") for n in range(2)],
    )
    port = _free_port()
    start_worker("--metrics-port", str(port))
    enqueue_instruction_set(created.set_id)
    wait_for(
        lambda: _statuses(pg_session_factory, created.set_id) == [SequenceStatus.COMPLETED] * 2,
        60,
        "the set to complete",
    )

    samples = _scrape(port)
    llm_calls = sum(
        value
        for (name, labels), value in samples.items()
        if name == "reflectseq_llm_request_seconds_count" and ("outcome", "ok") in labels
    )
    passed_runs = samples.get(
        ("reflectseq_sandbox_execution_seconds_count", (("language", "py"), ("status", "passed"))),
        0,
    )
    # Two sequences: each makes a stage-1 and a stage-2 call and runs two passing programs.
    assert llm_calls >= 4
    assert passed_runs >= 4


def test_sigkilled_worker_resumes_without_duplicate_blocks(
    start_worker: Callable[[], subprocess.Popen[bytes]],
    llm_server: ScriptedLlm,
    key: str,
    pg_session_factory: sessionmaker[Session],
) -> None:
    from workers.dispatch import enqueue_instruction_set

    llm_server.script(
        key,
        [
            answer(fenced_python(WRONG, "First try.")),
            answer(fenced_python(RIGHT, "Subtraction was wrong."), delay_s=30),  # killed here
            answer(fenced_python(RIGHT, "Subtraction was wrong; adding.")),
            answer(fenced_python(RIGHT, "Add them.")),
        ],
    )
    created = create_tasks(pg_session_factory, [add_task(key)])
    (sequence_id,) = created.sequence_ids
    first = start_worker()
    enqueue_instruction_set(created.set_id)

    # Wait until the worker is inside the slow second model call, then kill its whole group.
    wait_for(lambda: len(llm_server.requests_for(key)) >= 2, 60, "the second model call")
    os.killpg(first.pid, signal.SIGKILL)
    first.wait()
    with pg_session_factory() as session:
        assert session.get_one(Sequence, sequence_id).status == SequenceStatus.RUNNING

    start_worker()
    wait_for(
        lambda: _statuses(pg_session_factory, created.set_id) == [SequenceStatus.COMPLETED],
        60,
        "the sequence to complete after the restart",
    )
    with pg_session_factory() as session:
        sequence = session.get_one(Sequence, sequence_id)
        assert (sequence.rounds, sequence.reflection_pass, sequence.final_pass) == (2, True, True)
        assert sequence.attempt >= 2
        rows = session.execute(
            select(Message.index, Block.index, Block.kind)
            .join(Block, Block.message_id == Message.id)
            .where(Message.sequence_id == sequence_id)
            .order_by(Message.index, Block.index)
        ).all()
    reflection = [kind for message, _, kind in rows if message == 1]
    assert reflection == [
        BlockKind.TEXT,
        BlockKind.CODE,
        BlockKind.EXECUTION,
        BlockKind.ANALYSIS,
        BlockKind.CODE,
        BlockKind.EXECUTION,
    ]
    for message in {m for m, _, _ in rows}:
        indices = [index for m, index, _ in rows if m == message]
        assert indices == list(range(len(indices)))


def test_cancel_stops_running_and_queued_sequences(
    start_worker: Callable[[], subprocess.Popen[bytes]],
    llm_server: ScriptedLlm,
    key: str,
    pg_session_factory: sessionmaker[Session],
) -> None:
    from workers.dispatch import cancel_instruction_set, enqueue_instruction_set

    llm_server.script(key, [answer(fenced_python(WRONG), delay_s=2)])
    specs = [add_task(f"{key} #{n}") for n in range(4)]
    created = create_tasks(pg_session_factory, specs, max_rounds=5)
    start_worker()
    enqueue_instruction_set(created.set_id)
    wait_for(lambda: len(llm_server.requests_for(key)) >= 1, 60, "a first model call")

    assert cancel_instruction_set(created.set_id) == 4
    time.sleep(3)  # a running sequence finishes its current call, then must stop
    assert _statuses(pg_session_factory, created.set_id) == [SequenceStatus.CANCELLED] * 4
    calls_after_cancel = len(llm_server.requests_for(key))
    time.sleep(2.5)
    assert len(llm_server.requests_for(key)) == calls_after_cancel


def _held(factory: sessionmaker[Session], set_id: int) -> dict[int, Sequence]:
    """The set's running sequences by id."""
    with factory() as session:
        rows = session.scalars(
            select(Sequence).where(
                Sequence.instruction_set_id == set_id, Sequence.status == SequenceStatus.RUNNING
            )
        )
        return {row.id: row for row in rows}


def _pid(sequence: Sequence) -> int:
    """The process holding a sequence, from its worker name (host:pid:token)."""
    return int((sequence.worker or "").split(":")[1])


def test_killed_workers_sequences_are_requeued_within_twice_the_stale_time(
    start_worker: Callable[..., subprocess.Popen[bytes]],
    worker_env: dict[str, str],
    llm_server: ScriptedLlm,
    key: str,
    pg_session_factory: sessionmaker[Session],
) -> None:
    from workers.dispatch import enqueue_instruction_set

    stale_s = 8.0
    worker_env["REFLECTSEQ_STALE_AFTER_S"] = str(stale_s)
    worker_env["REFLECTSEQ_LLM_TIMEOUT_S"] = "300"  # one slow call, not retried timeouts
    # Every call outlasts the test's waits: live sequences stay silent far beyond the stale time.
    llm_server.script(key, [answer(fenced_python(RIGHT), delay_s=120)])
    created = create_tasks(pg_session_factory, [add_task(f"{key} #{n}") for n in range(30)])
    doomed = start_worker()  # two sequences at once
    start_worker("-c", "1")
    enqueue_instruction_set(created.set_id)
    wait_for(lambda: len(_held(pg_session_factory, created.set_id)) == 3, 180, "3 running")
    # An endpoint's adaptive limit starts at one request per process: the doomed worker's second
    # sequence waits for that place (also a wait the heartbeat must cover).
    wait_for(lambda: len(llm_server.requests_for(key)) >= 2, 60, "2 model calls")

    # Waiting on the model for twice the stale time, live sequences keep their claim.
    time.sleep(2 * stale_s + 2)
    held = _held(pg_session_factory, created.set_id)
    assert len(held) == 3 and all(sequence.attempt == 1 for sequence in held.values())

    orphans = {sid for sid, s in held.items() if os.getpgid(_pid(s)) == doomed.pid}
    assert len(orphans) == 2
    os.killpg(doomed.pid, signal.SIGKILL)
    doomed.wait()

    def requeued() -> list[Sequence]:
        with pg_session_factory() as session:
            rows = [session.get_one(Sequence, sid) for sid in orphans]
        return [row for row in rows if row.status != SequenceStatus.RUNNING]

    # 27 sequence tasks wait in the queue and every worker process is busy: the reaper does not.
    wait_for(lambda: len(requeued()) == 2, 120, "the killed worker's sequences to be requeued")
    for sequence in requeued():
        assert sequence.status == SequenceStatus.QUEUED
        assert sequence.heartbeat_at is not None
        silent = (sequence.updated_at - sequence.heartbeat_at).total_seconds()
        assert stale_s <= silent <= 2 * stale_s, silent
        print(f"sequence {sequence.id} requeued {silent:.1f} s after its last heartbeat")


def test_a_worker_runs_as_many_sequences_at_once_as_its_concurrency(
    start_worker: Callable[..., subprocess.Popen[bytes]],
    llm_server: ScriptedLlm,
    key: str,
    pg_session_factory: sessionmaker[Session],
) -> None:
    from workers.dispatch import enqueue_instruction_set

    # Answers without code after 1 s: a sequence is three calls and at least three seconds.
    llm_server.script(key, [answer("No program this time.", delay_s=1.0)])
    created = create_tasks(pg_session_factory, [add_task(f"{key} #{n}") for n in range(12)])
    start_worker("--concurrency", "6")
    enqueue_instruction_set(created.set_id)

    running: list[int] = []

    def finished() -> bool:
        statuses = _statuses(pg_session_factory, created.set_id)
        running.append(statuses.count(SequenceStatus.RUNNING))
        return statuses == [SequenceStatus.COMPLETED] * 12

    wait_for(finished, 180, "the set to complete")
    assert max(running) == 6  # six at once in one process, never more
    # Three calls a sequence; on a loaded machine a call may be retried, never skipped.
    assert len(llm_server.requests_for(key)) >= 36
