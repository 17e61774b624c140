"""The LLM client alone at many requests in flight: the ceiling of ``bench/fleet.py``.

The fleet's ratio is bounded by the worker's CPU per model call, and part of that is the HTTP
client before any database, Celery or loop work. This runs only ``OpenAIBackend.complete`` (the
OpenAI SDK on the process's event loop, with its adaptive in-flight limit) from N threads against
the scripted server of the fleet bench, which answers every request after 1 s and runs in a
process of its own, so the CPU measured is the client's. Per level N: a warm-up (the adaptive
limit grows from 1), then ``--rounds`` calls per thread; printed beside the ideal (rounds x 1 s)
are the time, their ratio, and the CPU per call.

Usage: ``python bench/llm_client.py [--in-flight 64 256] [--rounds 6]``
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the scripted server

from bench.fleet import LATENCY_S, latency_endpoint
from reflectseq.llm.base import ChatMessage, Sampling
from reflectseq.llm.openai_backend import OpenAIBackend

WARM_UP_CALLS = 10  # per thread: enough round trips for the limit to pass N
PROMPT: list[ChatMessage] = [{"role": "user", "content": "[fleet] Write add(a, b). " * 40}]
SAMPLING = Sampling(temperature=0.2, top_p=0.95, max_tokens=512)


@dataclass(frozen=True)
class Measured:
    """One timed level."""

    calls: int
    seconds: float
    cpu_s: float


def _serve(urls: multiprocessing.Queue[str]) -> None:
    urls.put(latency_endpoint(slots=None).base_url)
    threading.Event().wait()  # until the bench ends this process


def _in_threads(count: int, work: Callable[[], None]) -> None:
    threads = [threading.Thread(target=work) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def level(base_url: str, in_flight: int, rounds: int) -> Measured:
    """``in_flight`` threads each making ``rounds`` calls on one backend, after a warm-up."""
    backend = OpenAIBackend(model="scripted", base_url=base_url)

    def calls(count: int) -> Callable[[], None]:
        def work() -> None:
            for _ in range(count):
                backend.complete(PROMPT, SAMPLING)

        return work

    _in_threads(in_flight, calls(WARM_UP_CALLS))
    started, cpu = time.perf_counter(), time.process_time()
    _in_threads(in_flight, calls(rounds))
    return Measured(in_flight * rounds, time.perf_counter() - started, time.process_time() - cpu)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--in-flight", type=int, nargs="+", default=[64, 256])
    parser.add_argument("--rounds", type=int, default=6, help="Timed calls per thread.")
    args = parser.parse_args()
    spawn = multiprocessing.get_context("spawn")
    urls: multiprocessing.Queue[str] = spawn.Queue()
    server = spawn.Process(target=_serve, args=(urls,), daemon=True)
    server.start()
    try:
        base_url = urls.get(timeout=60)
        measured = {n: level(base_url, n, args.rounds) for n in args.in_flight}
    finally:
        server.kill()
    print(f"cores: {os.cpu_count()}, the client alone in one process, latency {LATENCY_S:g} s\n")
    print(
        f"{'in flight':>9} {'calls':>6} {'time s':>7} {'ideal s':>8} {'ratio':>6} "
        f"{'CPU ms/call':>12}"
    )
    for in_flight, m in measured.items():
        ideal = args.rounds * LATENCY_S
        print(
            f"{in_flight:>9} {m.calls:>6} {m.seconds:>7.1f} {ideal:>8.1f} "
            f"{ideal / m.seconds:>5.2f}x {m.cpu_s / m.calls * 1000:>12.2f}"
        )


if __name__ == "__main__":
    main()
