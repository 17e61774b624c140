"""Retry policy, Retry-After parsing, price table and the rate limiters (on real Redis)."""

from __future__ import annotations

import random
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
from redis import Redis

from reflectseq.llm.overflow import Overflow, context_overflow
from reflectseq.llm.pricing import PriceTable, PriceTableError
from reflectseq.llm.ratelimit import Limits, LocalRateLimiter, RedisRateLimiter, TokenBucket
from reflectseq.llm.retry import RetryPolicy, retry_after_seconds


def test_backoff_grows_with_full_jitter_and_honours_retry_after() -> None:
    policy = RetryPolicy(max_retries=5, base_s=1.0, max_s=10.0)
    rng = random.Random(1)
    delays = [policy.delay(retry, None, rng) for retry in range(200) for _ in range(1)]
    assert all(0 <= d <= 10.0 for d in delays)
    assert max(policy.delay(0, None, rng) for _ in range(100)) <= 1.0
    assert policy.delay(0, 4.0, rng) >= 4.0  # the server's wait is a floor
    assert policy.delay(0, 600.0, rng) == 10.0  # but never beyond the cap


def test_retry_after_forms() -> None:
    assert retry_after_seconds({"Retry-After": "2"}) == 2.0
    assert retry_after_seconds({"retry-after-ms": "250"}) == 0.25
    now = datetime(2025, 1, 1, 12, 0, 0, tzinfo=UTC)
    assert retry_after_seconds({"retry-after": "Wed, 01 Jan 2025 12:00:05 GMT"}, now) == 5.0
    assert retry_after_seconds({"retry-after": "soon"}) is None
    assert retry_after_seconds({}) is None


def test_price_table(tmp_path: Path) -> None:
    table = tmp_path / "prices.toml"
    table.write_text('[models."gpt-x"]\ninput = 1.0\noutput = 2.0\n')
    prices = PriceTable.load(table)
    assert prices.cost("gpt-x", 1_000_000, 500_000) == 2.0
    assert prices.cost("unknown", 10, 10) == 0.0
    table.write_text('[models."gpt-x"]\ninput = "cheap"\n')
    with pytest.raises(PriceTableError, match="gpt-x"):
        PriceTable.load(table)


def test_token_bucket_waits_for_refill_and_caps_oversized_requests() -> None:
    bucket = TokenBucket(capacity=60, level=60, updated=0.0)  # one per second
    assert bucket.take(0.0, 60) == 0.0
    assert bucket.take(0.0, 1) == pytest.approx(1.0)
    assert bucket.take(2.0, 1) == 0.0
    assert bucket.take(1000.0, 10_000) == 0.0  # more than the capacity is capped to it


class FakeTime:
    """A clock that only moves when the limiter sleeps: the test does not depend on load."""

    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def test_local_limiter_spaces_requests() -> None:
    fake = FakeTime()
    limiter = LocalRateLimiter(  # 10 per second, burst 600
        Limits(requests_per_minute=600), clock=lambda: fake.now, sleep=fake.sleep
    )
    for _ in range(600):
        with limiter.acquire(0):
            pass
    assert fake.slept == []  # the burst fits the bucket
    with limiter.acquire(0):
        pass
    assert sum(fake.slept) == pytest.approx(0.1)  # the 601st waits one refill interval


def test_redis_limiter_shares_the_concurrency_cap() -> None:
    client = Redis.from_url("redis://127.0.0.1:6379/13")
    name = uuid.uuid4().hex
    limiters = [RedisRateLimiter(client, name, Limits(max_concurrency=2), 30) for _ in range(4)]
    in_flight, peak, lock = 0, 0, threading.Lock()

    def call(limiter: RedisRateLimiter) -> None:
        nonlocal in_flight, peak
        with limiter.acquire(10):
            with lock:
                in_flight += 1
                peak = max(peak, in_flight)
            time.sleep(0.2)
            with lock:
                in_flight -= 1

    threads = [threading.Thread(target=call, args=(limiter,)) for limiter in limiters * 2]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert peak == 2


def test_redis_limiter_tokens_per_minute_is_shared_and_settled() -> None:
    client = Redis.from_url("redis://127.0.0.1:6379/13")
    name = uuid.uuid4().hex
    key = f"reflectseq:ratelimit:{name}:tokens"
    first, second = (
        RedisRateLimiter(client, name, Limits(tokens_per_minute=12_000), 30) for _ in range(2)
    )
    with first.acquire(11_000) as lease:
        lease.settle(11_000)
    started = time.monotonic()
    with second.acquire(1_200):  # ~1000 left: waits for 200 more at 200 per second
        pass
    assert time.monotonic() - started >= 0.8
    with first.acquire(100) as lease:
        reserved_level = float(client.hget(key, "level") or 0)
        lease.settle(0)  # used nothing: the reservation returns to the bucket
    assert float(client.hget(key, "level") or 0) >= reserved_level + 99


def test_context_refusals_are_recognised_in_each_servers_words() -> None:
    # llama-cpp-python's server and older vLLM (OpenAI's own wording).
    openai_style = {
        "message": "This model's maximum context length is 4096 tokens. However, you requested "
        "5757 tokens (4733 in the messages, 1024 in the completion). Please reduce the length "
        "of the messages or completion.",
        "type": "invalid_request_error",
        "code": "context_length_exceeded",
    }
    assert context_overflow(openai_style) == Overflow(4096, 4733)
    newer_vllm = (
        "'max_tokens' is too large: 1024. This model's maximum context length is 4096 tokens "
        "and your request has 3500 input tokens (1024 > 4096 - 3500)."
    )
    assert context_overflow({"message": newer_vllm}) == Overflow(4096, 3500)
    llama_server = {
        "code": 400,
        "message": "request (4733 tokens) exceeds the available context size (4096 tokens), "
        "try increasing it",
        "type": "exceed_context_size_error",
        "n_prompt_tokens": 4733,
        "n_ctx": 4096,
    }
    assert context_overflow(llama_server) == Overflow(4096, 4733)
    older_llama_server = {"message": "the request exceeds the available context size"}
    assert context_overflow(older_llama_server) == Overflow(None, None)
    in_process = "Requested tokens (4733) exceed context window of 4096"
    assert context_overflow(None, in_process) == Overflow(4096, 4733)
    assert context_overflow({"message": "'seed' must be a non-negative integer"}) is None
