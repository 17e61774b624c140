"""Wiring the loop to its real collaborators (database, LLM backends, sandbox, Redis).

Shared by the Celery worker processes and the embedded ``reflectseq run``, so both run the
exact same loop; they differ only in whether Redis is there to share limits and counters.
"""

from __future__ import annotations

import os
import socket
from datetime import timedelta
from typing import Any

from redis import Redis
from sqlalchemy.orm import Session, sessionmaker

from reflectseq.db.session import session_factory_for
from reflectseq.sandbox import execute
from reflectseq.settings import Settings
from workers.llm import BackendFactory, backend_factory
from workers.llm.breaker import FailureBreaker, LocalBreaker, RedisBreaker
from workers.loop.machine import LoopContext


def worker_name() -> str:
    """Who holds a sequence, as stored on it: host and process."""
    return f"{socket.gethostname()}:{os.getpid()}"


def redis_client(settings: Settings) -> Redis | None:
    """The Redis of the deployment, or None in embedded mode."""
    return Redis.from_url(settings.redis_url) if settings.redis_url else None


def stale_after(settings: Settings) -> timedelta:
    """How long a silent running sequence is left to its worker."""
    return timedelta(seconds=settings.stale_after_s)


def loop_context(
    settings: Settings,
    *,
    session_factory: sessionmaker[Session] | None = None,
    backends: BackendFactory | None = None,
    redis: Any | None = None,
) -> LoopContext:
    """The loop's collaborators for this process."""
    breaker: FailureBreaker = RedisBreaker(redis) if redis is not None else LocalBreaker()
    return LoopContext(
        session_factory=session_factory or session_factory_for(settings.database_url),
        backend_for=backends or backend_factory(settings, redis),
        execute=execute,
        breaker=breaker,
        fail_fast_after=settings.llm_fail_fast_after,
    )
