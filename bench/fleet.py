"""Sequences in flight per worker process: time against the ideal, memory, a one-slot server.

A real ``reflectseq worker`` (Celery on Redis, Postgres) runs sets against the scripted
OpenAI-compatible server, which answers every request after 1 s without spending CPU on it. The
answers carry no code, so a sequence is three model calls (two stage-1 answers without code end
stage 1, then the one-off answer) and no execution: what is measured is how well one process
keeps many sequences waiting on the model at once, not the sandbox (``bench/sandbox.py``).

1. For each ``--in-flight`` level N: a worker with ``--concurrency N``; a warm-up set of N
   sequences (connections, imports, and the endpoint's adaptive limit growing from 1), then a
   timed set of ``--rounds`` x N sequences. Printed: the time beside the ideal (calls x 1 s / N),
   their ratio (target >= 0.8), the worker's peak RSS per sequence in flight (target < 5 MB
   at 256), and its CPU time per model call: one process runs one thread at a time, so
   ``1 / cpu per call`` is the most calls a second it can carry (on an idle core), whatever N.
2. The same server with one slot (each request holds it for 1 s and the others queue, so the time
   to the first token grows with the queue: a one-slot llama.cpp server), against a worker with
   every default: every sequence must finish, with no failed call; the time is beside the ideal
   of one request at a time.

Usage: ``python bench/fleet.py [--in-flight 64 256] [--rounds 3]
[--database-url postgresql+psycopg://...] [--redis-url redis://127.0.0.1:6379/14]``
(a throw-away database on the local Postgres server is created and dropped).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import func, select

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # the scripted server lives with the tests

from bench.login import peak_rss_mib  # noqa: E402
from bench.loop import create_set  # noqa: E402
from reflectseq.db.models import LlmCall, Sequence  # noqa: E402
from reflectseq.db.scratch import scratch_database  # noqa: E402
from reflectseq.db.session import session_factory_for  # noqa: E402
from reflectseq.enums import SequenceStatus  # noqa: E402
from reflectseq.settings import get_settings  # noqa: E402
from tests.loop.llm_server import ScriptedLlm, answer  # noqa: E402
from workers.dispatch import enqueue_instruction_set  # noqa: E402

SERVER = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
REDIS = "redis://127.0.0.1:6379/14"
LATENCY_S = 1.0
CALLS_PER_SEQUENCE = 3
NO_CODE = "I would rather explain the idea than write the program."
ONE_SLOT_SEQUENCES = 16


@dataclass(frozen=True)
class Measured:
    """One timed set."""

    seconds: float
    calls: int
    failed_calls: int
    unfinished: int
    peak_rss_mib: float  # the worker's, over its life so far
    cpu_s: float  # the worker's CPU time during the set


def _environment(url: str, redis_url: str, base_url: str) -> dict[str, str]:
    values = {
        "REFLECTSEQ_DATABASE_URL": url,
        "REFLECTSEQ_REDIS_URL": redis_url,
        "REFLECTSEQ_CELERY_QUEUE": f"reflectseq-bench-{uuid.uuid4().hex[:8]}",
        "REFLECTSEQ_LLM_BACKEND": "openai",
        "REFLECTSEQ_LLM_BASE_URL": base_url,
        "REFLECTSEQ_LLM_MODEL": "scripted",
    }
    os.environ.update(values)
    get_settings.cache_clear()
    return {**os.environ, **values}


@contextmanager
def worker(env: dict[str, str], concurrency: int | None) -> Iterator[int]:
    """A ``reflectseq worker`` process (``concurrency`` None: the default), stopped afterwards."""
    command = [str(Path(sys.executable).parent / "reflectseq"), "worker", "--no-beat"]
    command += ["--loglevel", os.environ.get("FLEET_LOGLEVEL", "ERROR")]
    if concurrency is not None:
        command += ["--concurrency", str(concurrency)]
    process = subprocess.Popen(command, env=env, cwd=REPO, stdout=subprocess.DEVNULL)
    try:
        yield process.pid
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def run_set(url: str, pid: int, count: int, tag: str) -> Measured:
    """Store ``count`` sequences, enqueue them, wait until all have ended; time and peak RSS."""
    ids = create_set(url, count, tag)
    set_id = _set_of(url, ids[0])
    factory = session_factory_for(url)
    started, cpu = time.perf_counter(), cpu_seconds(pid)
    enqueue_instruction_set(set_id)
    ended = 0
    while ended < count:
        time.sleep(0.2)
        with factory() as session:
            ended = session.scalar(
                select(func.count()).where(
                    Sequence.id.in_(ids),
                    Sequence.status.in_([SequenceStatus.COMPLETED, SequenceStatus.FAILED]),
                )
            )
    seconds, cpu = time.perf_counter() - started, cpu_seconds(pid) - cpu
    with factory() as session:
        calls = session.scalar(select(func.count()).where(LlmCall.sequence_id.in_(ids))) or 0
        failed = session.scalar(
            select(func.count()).where(LlmCall.sequence_id.in_(ids), LlmCall.error.is_not(None))
        )
        unfinished = session.scalar(
            select(func.count()).where(
                Sequence.id.in_(ids), Sequence.status != SequenceStatus.COMPLETED
            )
        )
    return Measured(seconds, calls, failed or 0, unfinished or 0, peak_rss_mib(pid), cpu)


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _set_of(url: str, sequence_id: int) -> int:
    with session_factory_for(url)() as session:
        sequence = session.get(Sequence, sequence_id)
        assert sequence is not None
        return sequence.instruction_set_id


def in_flight_level(url: str, env: dict[str, str], level: int, rounds: int) -> Measured:
    """A worker with ``--concurrency level``: warmed on one set, timed on the next."""
    with worker(env, level) as pid:
        run_set(url, pid, level, f"[fleet-warm-{uuid.uuid4().hex[:6]}]")
        return run_set(url, pid, rounds * level, f"[fleet-{uuid.uuid4().hex[:6]}]")


def latency_endpoint(slots: int | None) -> ScriptedLlm:
    """The scripted server answering every "[fleet" request after ``LATENCY_S``, started."""
    server = ScriptedLlm(slots=slots)
    server.start()
    server.script("[fleet", [answer(NO_CODE, delay_s=LATENCY_S)])
    return server


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--in-flight", type=int, nargs="+", default=[64, 256])
    parser.add_argument("--rounds", type=int, default=3, help="Timed sequences per slot.")
    parser.add_argument("--database-url", default="", help="Postgres server URL (any database).")
    parser.add_argument("--redis-url", default=REDIS, help="Redis for the broker.")
    args = parser.parse_args()
    levels: dict[int, Measured] = {}
    with scratch_database(args.database_url or SERVER, "reflectseq_bench_fleet") as url:
        server = latency_endpoint(slots=None)
        try:
            env = _environment(url, args.redis_url, server.base_url)
            for level in args.in_flight:
                levels[level] = in_flight_level(url, env, level, args.rounds)
        finally:
            server.stop()
        one_slot = latency_endpoint(slots=1)
        try:
            env = _environment(url, args.redis_url, one_slot.base_url)
            with worker(env, None) as pid:
                slot = run_set(url, pid, ONE_SLOT_SEQUENCES, f"[fleet-slot-{uuid.uuid4()}]")
        finally:
            one_slot.stop()
    print(f"cores: {os.cpu_count()}, one worker process, endpoint latency {LATENCY_S:g} s\n")
    print(
        f"{'in flight':>9} {'calls':>6} {'time s':>7} {'ideal s':>8} {'ratio':>6} "
        f"{'RSS MB':>7} {'MB/seq':>7} {'CPU ms/call':>12}  "
        "(targets: ratio >= 0.8, < 5 MB/seq at 256)"
    )
    for level, measured in levels.items():
        ideal = measured.calls * LATENCY_S / level
        print(
            f"{level:>9} {measured.calls:>6} {measured.seconds:>7.1f} {ideal:>8.1f} "
            f"{ideal / measured.seconds:>5.2f}x {measured.peak_rss_mib:>7.0f} "
            f"{measured.peak_rss_mib / level:>7.2f} {measured.cpu_s / measured.calls * 1000:>12.1f}"
        )
    ideal = slot.calls * LATENCY_S
    print(
        f"\none-slot endpoint, worker defaults: {ONE_SLOT_SEQUENCES - slot.unfinished}/"
        f"{ONE_SLOT_SEQUENCES} sequences completed, {slot.failed_calls} failed calls of "
        f"{slot.calls}, {one_slot.abandoned} streams abandoned; {slot.seconds:.1f} s beside "
        f"{ideal:.1f} s serial ideal ({ideal / slot.seconds:.2f}x)"
    )


if __name__ == "__main__":
    main()
