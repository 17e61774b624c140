"""Counting consecutive failed LLM calls per endpoint, to stop a run that cannot succeed.

A bad key or an unknown model makes every call fail; without this, each sequence of a 100k set
would retry and fail in turn. Any success resets the count. With Redis the count is shared by
all workers, so a deployment stops within a few calls, not a few calls per worker.
"""

from __future__ import annotations

import threading
from typing import Any, Protocol

KEY_TTL_S = 3600


class FailureBreaker(Protocol):
    """Consecutive-failure counter keyed by endpoint."""

    def record_failure(self, key: str) -> int:
        """Count a failure; returns the consecutive failures so far."""
        ...

    def record_success(self, key: str) -> None:
        """Reset the count."""
        ...


class LocalBreaker:
    """Counts within one process."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: dict[str, int] = {}

    def record_failure(self, key: str) -> int:
        """Count a failure."""
        with self._lock:
            self._counts[key] = self._counts.get(key, 0) + 1
            return self._counts[key]

    def record_success(self, key: str) -> None:
        """Reset the count."""
        with self._lock:
            self._counts.pop(key, None)


class RedisBreaker:
    """Counts shared by every worker through Redis."""

    def __init__(self, client: Any, prefix: str = "reflectseq:llm-failures") -> None:
        self._client = client
        self._prefix = prefix

    def record_failure(self, key: str) -> int:
        """Count a failure (the counter expires, so an old outage does not linger)."""
        name = f"{self._prefix}:{key}"
        pipe = self._client.pipeline()
        pipe.incr(name)
        pipe.expire(name, KEY_TTL_S)
        count, _ = pipe.execute()
        return int(count)

    def record_success(self, key: str) -> None:
        """Reset the count."""
        self._client.delete(f"{self._prefix}:{key}")
