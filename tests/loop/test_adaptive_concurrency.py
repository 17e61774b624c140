"""The per-endpoint AIMD limit: alone (a fake clock), and driven by 429s of the scripted server."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from reflectseq.llm.adaptive import AdaptiveConcurrency, Permit
from reflectseq.llm.base import Sampling
from reflectseq.llm.openai_backend import OpenAIBackend
from reflectseq.llm.retry import RetryPolicy
from reflectseq.llm.streaming import Deadlines
from tests.loop.llm_server import ScriptedLlm, answer, error


class Clock:
    """Time that moves only when told."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _round_trip(
    limiter: AdaptiveConcurrency, clock: Clock, report: Callable[[Permit], None]
) -> None:
    """Fill the limit with requests sent together, then let each report after one tick."""
    permits = []
    contexts = []
    for _ in range(limiter.limit):
        context = limiter.acquire()
        permits.append(context.__enter__())
        contexts.append(context)
    clock.now += 1.0
    for permit, context in zip(permits, contexts, strict=True):
        report(permit)
        context.__exit__(None, None, None)


def test_slow_start_doubles_per_round_trip_up_to_the_ceiling() -> None:
    clock = Clock()
    limiter = AdaptiveConcurrency("vllm", ceiling=20, clock=clock)
    limits = []
    for _ in range(6):
        _round_trip(limiter, clock, Permit.succeeded)
        limits.append(limiter.limit)
    assert limits == [2, 4, 8, 16, 20, 20]


def test_overload_halves_once_per_round_trip_then_grows_back_additively() -> None:
    clock = Clock()
    limiter = AdaptiveConcurrency("vllm", initial=16, clock=clock)
    _round_trip(limiter, clock, lambda permit: permit.overloaded("HTTP 429"))
    assert limiter.limit == 8  # sixteen 429s of one round trip halve it once
    _round_trip(limiter, clock, lambda permit: permit.overloaded("HTTP 429"))
    assert limiter.limit == 4
    _round_trip(limiter, clock, Permit.succeeded)
    assert limiter.limit == 5  # after an overload: one more per round trip, not double
    _round_trip(limiter, clock, Permit.succeeded)
    assert limiter.limit == 6
    for _ in range(10):
        _round_trip(limiter, clock, lambda permit: permit.overloaded("timed out"))
    assert limiter.limit == 1  # never below one


def test_a_first_token_slowed_by_a_queue_lowers_the_limit() -> None:
    clock = Clock()
    limiter = AdaptiveConcurrency("llama", initial=4, clock=clock)
    _round_trip(limiter, clock, lambda permit: permit.first_token(1.0))
    assert limiter.limit == 4
    _round_trip(limiter, clock, lambda permit: permit.first_token(1.3))  # noise, not a queue
    assert limiter.limit == 4
    _round_trip(limiter, clock, lambda permit: permit.first_token(4.0))  # queued behind others
    assert limiter.limit == 2


def test_an_unused_limit_does_not_grow() -> None:
    clock = Clock()
    limiter = AdaptiveConcurrency("vllm", initial=8, clock=clock)
    for _ in range(5):
        with limiter.acquire() as permit:  # one request at a time proves nothing about eight
            clock.now += 1.0
            permit.succeeded()
    assert limiter.limit == 8


def test_threads_beyond_the_limit_wait_for_a_place() -> None:
    limiter = AdaptiveConcurrency("llama", initial=2)
    inside, peak, lock = 0, 0, threading.Lock()
    release = threading.Event()

    def call() -> None:
        nonlocal inside, peak
        with limiter.acquire():
            with lock:
                inside += 1
                peak = max(peak, inside)
            release.wait()
            with lock:
                inside -= 1

    with ThreadPoolExecutor(max_workers=6) as pool:
        futures = [pool.submit(call) for _ in range(6)]
        while limiter.in_flight < 2:
            release.wait(0.01)
        release.set()
        for future in futures:
            future.result()
    assert peak <= 2


def test_429s_lower_the_limit_and_successes_raise_it_again(
    llm_server: ScriptedLlm, key: str
) -> None:
    llm_server.script(key, [error(429, retry_after="0"), answer("ok")])
    limiter = AdaptiveConcurrency("scripted", initial=8)
    backend = OpenAIBackend(
        model="scripted",
        base_url=llm_server.base_url,
        deadlines=Deadlines(first_token_s=30, stall_s=30),
        retry=RetryPolicy(max_retries=2, base_s=0.01, max_s=0.05),
        concurrency=limiter,
    )
    messages = [{"role": "user", "content": f"Say ok. {key}"}]
    completion = backend.complete(messages, Sampling())  # type: ignore[arg-type]
    assert completion.text == "ok"
    assert limiter.limit == 4

    def call(_: int) -> int:
        assert backend.complete(messages, Sampling()).text == "ok"  # type: ignore[arg-type]
        return limiter.limit

    with ThreadPoolExecutor(max_workers=8) as pool:
        limits = list(pool.map(call, range(48)))
    # A scheduling hiccup of this machine may look like a queue once; growth shows all the same.
    assert max(limits) > 4
