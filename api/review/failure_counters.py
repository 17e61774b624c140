"""Counts of failed logins and the locks they lead to, per key (a username, a client address).

``RedisFailureCounters`` keeps them in Redis with Redis' own expiry, so every API process and
host behind a load balancer sees the same counts; ``LocalFailureCounters`` keeps them in one
process (the embedded mode, and the fallback while Redis cannot be reached).

A count is forgotten once no failure was added for ``forget_after_s``; a lock lasts the
seconds it was set for.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, TypeVar

import redis

logger = logging.getLogger(__name__)
T = TypeVar("T")

# Keys the in-process counters remember at most: a spray of made-up usernames must not grow the
# table without bound; the least recently touched keys go first.
MAX_LOCAL_KEYS = 100_000


class FailureCounters(Protocol):
    """Where failed logins are counted and locks are kept."""

    def add_failure(self, key: str, *, forget_after_s: float) -> int:
        """Count one more failure of ``key``; returns the failures now counted."""
        ...

    def lock(self, key: str, seconds: float) -> None:
        """Refuse ``key`` for ``seconds`` from now."""
        ...

    def locked_for(self, key: str) -> float:
        """Seconds the lock of ``key`` still lasts (0 when it has none)."""
        ...

    def clear(self, key: str) -> None:
        """Forget the failures and the lock of ``key``."""
        ...


@dataclass
class _Entry:
    failures: int = 0
    forget_at: float = 0.0
    locked_until: float = 0.0


class LocalFailureCounters:
    """Failure counts and locks inside this process."""

    def __init__(self, *, max_keys: int = MAX_LOCAL_KEYS) -> None:
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        self._guard = threading.Lock()
        self._max_keys = max_keys

    def _touch(self, key: str, now: float) -> _Entry:
        entry = self._entries.get(key)
        if entry is None:
            entry = self._entries[key] = _Entry()
            while len(self._entries) > self._max_keys:
                self._entries.popitem(last=False)
        self._entries.move_to_end(key)
        if entry.forget_at <= now:
            entry.failures = 0
        return entry

    def add_failure(self, key: str, *, forget_after_s: float) -> int:
        with self._guard:
            now = time.monotonic()
            entry = self._touch(key, now)
            entry.failures += 1
            entry.forget_at = now + forget_after_s
            return entry.failures

    def lock(self, key: str, seconds: float) -> None:
        with self._guard:
            now = time.monotonic()
            self._touch(key, now).locked_until = now + seconds

    def locked_for(self, key: str) -> float:
        with self._guard:
            entry = self._entries.get(key)
            return max(0.0, entry.locked_until - time.monotonic()) if entry else 0.0

    def clear(self, key: str) -> None:
        with self._guard:
            self._entries.pop(key, None)


class RedisFailureCounters:
    """Failure counts and locks in Redis, shared by every process that uses the same Redis.

    While Redis cannot be reached, each process counts on its own (``LocalFailureCounters``) and
    logs a warning, rather than refusing every login or letting every guess through.
    """

    def __init__(self, client: redis.Redis, *, prefix: str) -> None:
        self._client = client
        self._prefix = prefix
        self._fallback = LocalFailureCounters()

    def _shared(self, operation: Callable[[], T], fallback: Callable[[], T]) -> T:
        try:
            return operation()
        except redis.RedisError as error:
            logger.warning("login throttle: Redis failed (%s); counting in this process", error)
            return fallback()

    def _failures(self, key: str) -> str:
        return f"{self._prefix}:failures:{key}"

    def _lock(self, key: str) -> str:
        return f"{self._prefix}:lock:{key}"

    def add_failure(self, key: str, *, forget_after_s: float) -> int:
        def count() -> int:
            pipeline = self._client.pipeline(transaction=True)
            pipeline.incr(self._failures(key))
            pipeline.pexpire(self._failures(key), max(1, round(forget_after_s * 1000)))
            failures, _ = pipeline.execute()
            return int(failures)

        return self._shared(
            count, lambda: self._fallback.add_failure(key, forget_after_s=forget_after_s)
        )

    def lock(self, key: str, seconds: float) -> None:
        self._shared(
            lambda: self._client.set(self._lock(key), 1, px=max(1, round(seconds * 1000))),
            lambda: self._fallback.lock(key, seconds),
        )

    def locked_for(self, key: str) -> float:
        def remaining() -> float:
            milliseconds = int(self._client.pttl(self._lock(key)))
            return milliseconds / 1000 if milliseconds > 0 else 0.0

        return self._shared(remaining, lambda: self._fallback.locked_for(key))

    def clear(self, key: str) -> None:
        self._shared(
            lambda: self._client.delete(self._failures(key), self._lock(key)),
            lambda: self._fallback.clear(key),
        )
