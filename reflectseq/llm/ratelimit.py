"""Requests/minute, tokens/minute and in-flight limits shared by every worker of a deployment.

Both budgets are token buckets that refill continuously (capacity = the per-minute limit). A
call reserves one request and an estimate of its tokens before it is sent, and settles the
difference once the real count is known, so the token budget stays exact over time even though
the output length is unknown up front. In-flight calls hold a slot with an expiry, so a worker
that dies mid-call cannot leak its slot forever.

``RedisRateLimiter`` does the bookkeeping atomically in a Lua script with Redis' own clock, so
workers on different hosts share one budget; ``LocalRateLimiter`` applies the same rules inside
one process (the embedded ``reflectseq run``).
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Protocol

SECONDS_PER_MINUTE = 60.0
SLOT_POLL_S = 0.05
SLOT_RETRY_S = 1.0  # what a refused caller is told to wait for a busy in-flight slot


@dataclass(frozen=True)
class Limits:
    """Per-minute budgets and the in-flight cap; 0 disables a limit."""

    requests_per_minute: int = 0
    tokens_per_minute: int = 0
    max_concurrency: int = 0

    @property
    def unlimited(self) -> bool:
        """True when no limit is set at all."""
        return not (self.requests_per_minute or self.tokens_per_minute or self.max_concurrency)


@dataclass
class TokenBucket:
    """A bucket of ``capacity`` that refills at ``capacity`` per minute; may go into debt."""

    capacity: float
    level: float
    updated: float

    def take(self, now: float, amount: float) -> float:
        """Take ``amount`` if available and return 0, else return the seconds until it is.

        Amounts above the capacity are capped to it, or they could never be granted.
        """
        rate = self.capacity / SECONDS_PER_MINUTE
        self.level = min(self.capacity, self.level + (now - self.updated) * rate)
        self.updated = now
        need = min(amount, self.capacity)
        if self.level >= need:
            self.level -= need
            return 0.0
        return (need - self.level) / rate

    def adjust(self, delta: float) -> None:
        """Give back (positive) or charge extra (negative) after the real usage is known."""
        self.level = min(self.capacity, self.level + delta)


class Lease(Protocol):
    """A granted call; ``settle`` reports the real token count."""

    def settle(self, tokens: int) -> None:
        """Correct the token budget by the difference between reserved and used tokens."""
        ...


class RateLimited(Exception):
    """A call that may not wait was refused; ``retry_after_s`` says when to try again."""

    def __init__(self, retry_after_s: float) -> None:
        super().__init__(f"rate limited; retry in {retry_after_s:.1f} s")
        self.retry_after_s = retry_after_s


class RateLimiter(Protocol):
    """Blocks until a call may be sent, and holds an in-flight slot during it."""

    def acquire(self, tokens: int, *, wait: bool = True) -> Any:
        """A context manager yielding a ``Lease`` (``RateLimited`` if it may not wait)."""
        ...


class _NoLease:
    def settle(self, tokens: int) -> None:
        """Nothing to correct without limits."""


class LocalRateLimiter:
    """The limits within one process (threads share them)."""

    def __init__(
        self,
        limits: Limits,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._limits = limits
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        now = clock()
        self._requests = TokenBucket(limits.requests_per_minute, limits.requests_per_minute, now)
        self._tokens = TokenBucket(limits.tokens_per_minute, limits.tokens_per_minute, now)
        self._slots = threading.Semaphore(limits.max_concurrency or 1)

    def _try(self, tokens: int) -> float:
        with self._lock:
            now = self._clock()
            waits = []
            # Check both before taking either, so a refusal never consumes budget.
            probe_requests = TokenBucket(**vars(self._requests))
            probe_tokens = TokenBucket(**vars(self._tokens))
            if self._limits.requests_per_minute:
                waits.append(probe_requests.take(now, 1))
            if self._limits.tokens_per_minute:
                waits.append(probe_tokens.take(now, tokens))
            wait = max(waits, default=0.0)
            if wait == 0.0:
                self._requests, self._tokens = probe_requests, probe_tokens
            return wait

    @contextmanager
    def acquire(self, tokens: int, *, wait: bool = True) -> Iterator[Lease]:
        """Wait for budget and a slot, then yield a lease.

        With ``wait=False`` a call that would have to wait raises ``RateLimited`` instead.
        """
        while (delay := self._try(tokens)) > 0:
            if not wait:
                raise RateLimited(delay)
            self._sleep(delay)
        if not self._limits.max_concurrency:
            yield self._lease(tokens)
            return
        if not self._slots.acquire(blocking=wait):
            raise RateLimited(SLOT_RETRY_S)
        try:
            yield self._lease(tokens)
        finally:
            self._slots.release()

    def _lease(self, reserved: int) -> Lease:
        limiter = self

        class _Lease:
            def settle(self, tokens: int) -> None:
                if limiter._limits.tokens_per_minute:
                    with limiter._lock:
                        limiter._tokens.adjust(reserved - tokens)

        return _Lease()


# KEYS: requests bucket, tokens bucket, slot set. ARGV: rpm, tpm, tokens, concurrency, slot id,
# slot ttl. Returns the seconds to wait as a string (0 = granted). Buckets are hashes
# {level, updated}; slots a sorted set scored by expiry time.
_ACQUIRE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1e6
local function probe(key, capacity, amount)
  if capacity <= 0 then return 0, nil end
  local state = redis.call('HMGET', key, 'level', 'updated')
  local level = tonumber(state[1]) or capacity
  local updated = tonumber(state[2]) or now
  local rate = capacity / 60.0
  level = math.min(capacity, level + (now - updated) * rate)
  local need = math.min(amount, capacity)
  if level >= need then return 0, level - need end
  return (need - level) / rate, level
end
local rpm, tpm = tonumber(ARGV[1]), tonumber(ARGV[2])
local w1, l1 = probe(KEYS[1], rpm, 1)
local w2, l2 = probe(KEYS[2], tpm, tonumber(ARGV[3]))
local wait = math.max(w1, w2)
if wait > 0 then return tostring(wait) end
local concurrency = tonumber(ARGV[4])
if concurrency > 0 then
  redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now)
  if redis.call('ZCARD', KEYS[3]) >= concurrency then return tostring(0.05) end
  redis.call('ZADD', KEYS[3], now + tonumber(ARGV[6]), ARGV[5])
  redis.call('EXPIRE', KEYS[3], math.ceil(tonumber(ARGV[6])) + 60)
end
if rpm > 0 then
  redis.call('HSET', KEYS[1], 'level', l1, 'updated', now)
  redis.call('EXPIRE', KEYS[1], 120)
end
if tpm > 0 then
  redis.call('HSET', KEYS[2], 'level', l2, 'updated', now)
  redis.call('EXPIRE', KEYS[2], 120)
end
return '0'
"""

# KEYS: tokens bucket. ARGV: tpm, delta. Settles the reserved estimate against the real count.
_SETTLE = """
local capacity = tonumber(ARGV[1])
local level = tonumber(redis.call('HGET', KEYS[1], 'level'))
if level == nil then return 0 end
redis.call('HSET', KEYS[1], 'level', math.min(capacity, level + tonumber(ARGV[2])))
return 1
"""


class RedisRateLimiter:
    """The limits shared through Redis by every process that uses the same ``name``."""

    def __init__(self, client: Any, name: str, limits: Limits, slot_ttl_s: float) -> None:
        self._client = client
        self._limits = limits
        self._slot_ttl_s = slot_ttl_s
        prefix = f"reflectseq:ratelimit:{name}"
        self._keys = [f"{prefix}:requests", f"{prefix}:tokens", f"{prefix}:slots"]
        self._acquire = client.register_script(_ACQUIRE)
        self._settle = client.register_script(_SETTLE)

    @contextmanager
    def acquire(self, tokens: int, *, wait: bool = True) -> Iterator[Lease]:
        """Wait until Redis grants the call, hold its slot while it runs, then free the slot.

        With ``wait=False`` a call that would have to wait raises ``RateLimited`` instead.
        """
        slot = uuid.uuid4().hex
        limits = self._limits
        args = [
            limits.requests_per_minute,
            limits.tokens_per_minute,
            tokens,
            limits.max_concurrency,
            slot,
            self._slot_ttl_s,
        ]
        while (delay := float(self._acquire(keys=self._keys, args=args))) > 0:
            if not wait:
                raise RateLimited(max(delay, SLOT_RETRY_S))
            time.sleep(max(delay, SLOT_POLL_S))
        try:
            yield self._lease(tokens)
        finally:
            if limits.max_concurrency:
                self._client.zrem(self._keys[2], slot)

    def _lease(self, reserved: int) -> Lease:
        limiter = self

        class _Lease:
            def settle(self, tokens: int) -> None:
                if limiter._limits.tokens_per_minute:
                    limiter._settle(
                        keys=[limiter._keys[1]],
                        args=[limiter._limits.tokens_per_minute, reserved - tokens],
                    )

        return _Lease()


class UnlimitedRateLimiter:
    """No limits at all (the local model, or a deployment that sets none)."""

    @contextmanager
    def acquire(self, tokens: int, *, wait: bool = True) -> Iterator[Lease]:
        """Grant at once."""
        yield _NoLease()
