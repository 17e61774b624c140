"""The budget of interactive executions (``/v1/execute`` and the dashboard's re-run).

Interactive runs share the host's sandbox slots with the workers. Without a budget of their own,
two clients re-running in a loop could hold every slot and stall generation, so each API
process lets at most ``sandbox_interactive_concurrency`` of them run at once, and each caller
(an API key or a dashboard user) at most ``sandbox_interactive_runs_per_minute``. Both are
shared over API processes through Redis when one is configured. A run over budget is refused at
once with 429 and ``Retry-After``, never queued: a queue is what a busy loop would fill.

Interactive runs may also only tighten the language's limits, never loosen them.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any

from fastapi import Depends, Request

from api.errors import ApiError
from api.schemas import ErrorDetail
from reflectseq.llm.ratelimit import (
    Limits,
    LocalRateLimiter,
    RateLimited,
    RateLimiter,
    RedisRateLimiter,
)
from reflectseq.sandbox.models import ExecutionRequest
from reflectseq.sandbox.plan import loosened_limits
from reflectseq.settings import Settings


def budget_namespace(settings: Settings) -> str:
    """The Redis name prefix of one deployment's budgets: API processes on the same database
    share them, another deployment on the same Redis does not."""
    digest = hashlib.sha256(settings.database_url.encode("utf-8")).hexdigest()[:12]
    return f"interactive:{digest}"


class InteractiveBudget:
    """Admits interactive runs: one shared in-flight cap, one per-minute budget per caller."""

    def __init__(self, settings: Settings, redis: Any | None = None) -> None:
        self._settings = settings
        self._redis = redis
        self.namespace = budget_namespace(settings)
        self._slots = self._limiter(
            "slots", Limits(max_concurrency=settings.sandbox_interactive_concurrency)
        )
        self._callers: dict[str, RateLimiter] = {}

    def _limiter(self, name: str, limits: Limits) -> RateLimiter:
        if self._redis is None:
            return LocalRateLimiter(limits)
        # A slot outlives a crashed API process by at most the longest run it could hold.
        return RedisRateLimiter(self._redis, f"{self.namespace}:{name}", limits, slot_ttl_s=600)

    def _caller(self, caller: str) -> RateLimiter:
        limiter = self._callers.get(caller)
        if limiter is None:
            per_minute = Limits(
                requests_per_minute=self._settings.sandbox_interactive_runs_per_minute
            )
            limiter = self._callers.setdefault(caller, self._limiter(caller, per_minute))
        return limiter

    def check_limits(self, request: ExecutionRequest) -> None:
        """Refuse (422, naming the field) limits looser than the language's own."""
        loosened = loosened_limits(request, default_memory_mb=self._settings.sandbox_memory_mb)
        if loosened:
            raise ApiError(
                422,
                "interactive executions may only tighten the language's limits",
                details=[ErrorDetail(field=field, message=message) for field, message in loosened],
            )

    @contextmanager
    def admit(self, caller: str) -> Iterator[None]:
        """Hold an interactive slot for ``caller`` while the block runs; 429 when over budget."""
        per_minute = self._settings.sandbox_interactive_runs_per_minute
        with (
            _refused_as_429(
                f"this caller's budget of {per_minute} interactive runs a minute is spent"
            ),
            self._caller(caller).acquire(0, wait=False),
        ):
            pass
        with (
            _refused_as_429("every interactive sandbox slot is busy"),
            self._slots.acquire(0, wait=False),
        ):
            yield


async def get_interactive_budget(request: Request) -> InteractiveBudget:
    """The app's budget of interactive executions."""
    budget: InteractiveBudget = request.app.state.interactive_budget
    return budget


Budget = Annotated[InteractiveBudget, Depends(get_interactive_budget)]


@contextmanager
def _refused_as_429(message: str) -> Iterator[None]:
    try:
        yield
    except RateLimited as refused:
        raise ApiError(
            429, message, headers={"Retry-After": str(max(1, math.ceil(refused.retry_after_s)))}
        ) from refused
