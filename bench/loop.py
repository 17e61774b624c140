"""Throughput and orchestration overhead of the reflection loop.

The scripted OpenAI-compatible server answers at once and the task is trivial Python, so what
is measured is the loop itself: database reads and commits, parsing, prompt rendering, the
HTTP round trip and the sandbox. Two measurements in one run:

1. Sequences per second with 1, 2 and 4 worker processes (each runs the same loop the Celery
   worker runs), beside the 1-process figure as the baseline: the ratio shows how close the
   scaling is to linear.
2. Orchestration overhead per round (one model call plus one execution): wall time minus the
   time spent inside the LLM call and inside the sandbox, beside those two as the baseline.

Usage: ``python bench/loop.py [--sequences 24] [--database-url postgresql+psycopg://...]``
(by default a throw-away database on the local Postgres server is created and dropped).
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import sys
import time
import uuid
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from sqlalchemy import func, select

# The scripted server lives with the tests; run from a checkout, this makes it importable.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from reflectseq.db.models import Sequence
from reflectseq.db.scratch import scratch_database
from reflectseq.db.session import session_factory_for, transaction
from reflectseq.enums import SequenceStatus
from reflectseq.llm.base import ChatMessage, Completion, LlmBackend, Sampling
from reflectseq.sandbox import execute
from reflectseq.sandbox.models import ExecutionRequest, ExecutionResult
from reflectseq.settings import get_settings
from reflectseq.specs import GenerationConfigSpec, InstructionSpec
from reflectseq.store.instruction_sets import (
    create_instruction_set,
    get_or_create_generation_config,
)
from tests.loop.llm_server import ScriptedLlm, answer
from workers.loop.machine import LoopContext, run_sequence
from workers.runtime import loop_context

SERVER = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
ANSWER = "Adding.\n\n```python\ndef add(a, b):\n    return a + b\n```\n"
STALE = timedelta(minutes=10)


def create_set(url: str, count: int, tag: str) -> list[int]:
    """``count`` trivial one-round tasks; returns their sequence ids."""
    specs = [
        InstructionSpec(
            text=f"Write add(a, b). {tag} #{n}", language="py", tests="assert add(2, 3) == 5"
        )
        for n in range(count)
    ]
    # The settings' `default` endpoint is the scripted server (see _environment).
    config_spec = GenerationConfigSpec(endpoint="default", model="scripted")
    with transaction(session_factory_for(url)) as session:
        config = get_or_create_generation_config(session, config_spec, backend="openai")
        created = create_instruction_set(
            session, name=tag, config=config, instructions=list(enumerate(specs))
        )
        set_id = created.instruction_set.id
        return list(
            session.scalars(select(Sequence.id).where(Sequence.instruction_set_id == set_id))
        )


def _environment(url: str, base_url: str) -> None:
    os.environ.update(
        {
            "REFLECTSEQ_DATABASE_URL": url,
            "REFLECTSEQ_LLM_BASE_URL": base_url,
            "REFLECTSEQ_LLM_MODEL": "scripted",
        }
    )
    get_settings.cache_clear()


def _process_worker(url: str, base_url: str, queue: multiprocessing.Queue[int | None]) -> None:
    _environment(url, base_url)
    context = loop_context(get_settings())
    while (sequence_id := queue.get()) is not None:
        run_sequence(context, sequence_id, worker=f"bench:{os.getpid()}", stale_after=STALE)


def throughput(url: str, base_url: str, processes: int, count: int) -> float:
    """Sequences per second with ``processes`` worker processes."""
    ids = create_set(url, count, f"[throughput-{processes}-{uuid.uuid4().hex[:6]}]")
    spawn = multiprocessing.get_context("spawn")
    queue: multiprocessing.Queue[int | None] = spawn.Queue()
    workers = [
        spawn.Process(target=_process_worker, args=(url, base_url, queue)) for _ in range(processes)
    ]
    for worker in workers:
        worker.start()
    # Warm each process (imports, connections) on one sequence before timing.
    warm = create_set(url, processes, f"[warm-{uuid.uuid4().hex[:6]}]")
    for sequence_id in warm:
        queue.put(sequence_id)
    _wait_until_done(url, warm)
    started = time.perf_counter()
    for sequence_id in ids:
        queue.put(sequence_id)
    for _ in workers:
        queue.put(None)
    for worker in workers:
        worker.join()
    return count / (time.perf_counter() - started)


def _wait_until_done(url: str, ids: list[int]) -> None:
    factory = session_factory_for(url)
    while True:
        with factory() as session:
            done = session.scalar(
                select(func.count()).where(
                    Sequence.id.in_(ids), Sequence.status == SequenceStatus.COMPLETED
                )
            )
        if done == len(ids):
            return
        time.sleep(0.05)


@dataclass
class Timed:
    """Time spent inside the LLM backend and the sandbox."""

    llm_s: float = 0.0
    sandbox_s: float = 0.0
    calls: int = 0
    executions: int = 0


class TimedBackend:
    """Wraps a backend to add up the time spent in it."""

    def __init__(self, inner: LlmBackend, timed: Timed) -> None:
        self._inner, self._timed = inner, timed

    @property
    def model(self) -> str:
        return self._inner.model

    def complete(self, messages: list[ChatMessage], sampling: Sampling) -> Completion:
        started = time.perf_counter()
        try:
            return self._inner.complete(messages, sampling)
        finally:
            self._timed.llm_s += time.perf_counter() - started
            self._timed.calls += 1


def overhead(url: str, base_url: str, count: int) -> tuple[float, Timed, float]:
    """Wall time of ``count`` sequences in one process, and where it went."""
    _environment(url, base_url)
    timed = Timed()
    base = loop_context(get_settings())

    def timed_execute(request: ExecutionRequest) -> ExecutionResult:
        started = time.perf_counter()
        try:
            return execute(request)
        finally:
            timed.sandbox_s += time.perf_counter() - started
            timed.executions += 1

    context = LoopContext(
        session_factory=base.session_factory,
        backend_for=lambda config: TimedBackend(base.backend_for(config), timed),
        execute=timed_execute,
        breaker=base.breaker,
    )
    for sequence_id in create_set(url, 2, f"[warm-{uuid.uuid4().hex[:6]}]"):
        run_sequence(context, sequence_id, worker="bench", stale_after=STALE)
    timed.llm_s = timed.sandbox_s = 0.0
    timed.calls = timed.executions = 0
    ids = create_set(url, count, f"[overhead-{uuid.uuid4().hex[:6]}]")
    started = time.perf_counter()
    for sequence_id in ids:
        run_sequence(context, sequence_id, worker="bench", stale_after=STALE)
    return time.perf_counter() - started, timed, float(len(ids))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sequences", type=int, default=24, help="Sequences per measurement.")
    parser.add_argument("--database-url", default="", help="Postgres server URL (any database).")
    args = parser.parse_args()
    server = ScriptedLlm()
    server.start()
    server.script("[", [answer(ANSWER)])  # every bench task carries a [tag]
    try:
        with scratch_database(args.database_url or SERVER, "reflectseq_bench_loop") as url:
            wall, timed, sequences = overhead(url, server.base_url, args.sequences)
            rates = {n: throughput(url, server.base_url, n, args.sequences) for n in (1, 2, 4)}
    finally:
        server.stop()
    rounds = timed.calls  # a round: one model call and one execution (stage 1 or one-off)
    rest = wall - timed.llm_s - timed.sandbox_s
    print(f"cores: {os.cpu_count()}, sequences per measurement: {args.sequences}\n")
    print(f"{'workers':>8} {'seq/s':>8} {'vs 1 worker':>12} {'ideal':>6}")
    for n, rate in rates.items():
        print(f"{n:>8} {rate:>8.2f} {rate / rates[1]:>11.2f}x {n:>5}x")
    print()
    print(
        f"per round ({rounds / sequences:.0f} rounds per sequence, {timed.executions} executions):"
    )
    print(f"{'':>4}{'LLM call (HTTP)':<28}{timed.llm_s / rounds * 1000:>8.1f} ms")
    print(f"{'':>4}{'sandbox execution':<28}{timed.sandbox_s / rounds * 1000:>8.1f} ms")
    print(
        f"{'':>4}{'orchestration overhead':<28}{rest / rounds * 1000:>8.1f} ms  (target <= 15 ms)"
    )
    print(
        f"{'':>4}{'overhead / (LLM + sandbox)':<28}{rest / (timed.llm_s + timed.sandbox_s):>8.2f}"
    )


if __name__ == "__main__":
    main()
