"""When to retry a failed LLM call: exponential backoff with full jitter, floored by Retry-After.

Pure (the random source and the clock are the caller's), so the policy is tested without servers.
Full jitter spreads the retries of many workers that hit the same 429 at the same moment; a
server's Retry-After is a floor, because retrying earlier only earns another 429.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long to wait between attempts."""

    max_retries: int = 6
    base_s: float = 1.0
    max_s: float = 60.0

    def delay(self, retry: int, retry_after_s: float | None, rng: random.Random) -> float:
        """Seconds to wait before retry number ``retry`` (0 for the first retry)."""
        ceiling = min(self.max_s, self.base_s * (2**retry))
        jittered = rng.uniform(0.0, ceiling)
        if retry_after_s is None:
            return jittered
        return max(jittered, min(retry_after_s, self.max_s))


def retry_after_seconds(headers: Mapping[str, str], now: datetime | None = None) -> float | None:
    """The server's requested wait from ``retry-after-ms`` or ``retry-after`` (seconds or date)."""
    lowered = {key.lower(): value for key, value in headers.items()}
    if "retry-after-ms" in lowered:
        try:
            return max(0.0, float(lowered["retry-after-ms"]) / 1000.0)
        except ValueError:
            pass
    value = lowered.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())
