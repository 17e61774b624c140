"""Wiring the loop to its real collaborators (database, LLM backends, sandbox, Redis).

Shared by the Celery worker processes and the embedded ``reflectseq run``, so both run the
exact same loop; they differ only in whether Redis is there to share limits and counters.
"""

from __future__ import annotations

import os
import secrets
import socket
from datetime import timedelta
from functools import lru_cache
from typing import Any

from redis import Redis
from sqlalchemy import create_engine
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from reflectseq.db.session import make_engine, make_session_factory
from reflectseq.llm import BackendFactory, backend_factory
from reflectseq.llm.breaker import FailureBreaker, LocalBreaker, RedisBreaker
from reflectseq.llm.context_window import ContextWindows
from reflectseq.llm.endpoints import EndpointRegistry, load_registry
from reflectseq.sandbox import enable_warm_starts, execute
from reflectseq.settings import Settings
from workers.loop.machine import LoopContext

_PROCESS_TOKENS: dict[int, str] = {}
# The loop's connections per worker process. Its hundreds of sequences share them: a step holds
# one only for its commit (milliseconds), and a thread that finds them all busy waits its turn.
# No overflow: under load an overflow connection was opened for a commit and closed after it,
# a new Postgres backend per step.
LOOP_POOL_SIZE = 20
LOOP_POOL_OVERFLOW = 0
LOOP_POOL_WAIT_S = 300.0


def worker_name() -> str:
    """Who holds a sequence, as stored on it: host, process, and a token of this process.

    The heartbeat refreshes sequences by this name, so it must never be reused: a restarted
    container has the same host name and often the same process ids, and without the token its
    processes would keep the dead predecessor's sequences alive. Keyed by pid, so a forked child
    draws its own token instead of inheriting its parent's.
    """
    pid = os.getpid()
    token = _PROCESS_TOKENS.setdefault(pid, secrets.token_hex(4))
    return f"{socket.gethostname()}:{pid}:{token}"


def redis_client(settings: Settings) -> Redis | None:
    """The Redis of the deployment, or None in embedded mode."""
    return Redis.from_url(settings.redis_url) if settings.redis_url else None


def stale_after(settings: Settings) -> timedelta:
    """How long a silent running sequence is left to its worker."""
    return timedelta(seconds=settings.stale_after_s)


@lru_cache(maxsize=4)
def loop_session_factory(url: str) -> sessionmaker[Session]:
    """Sessions for the loop's step transactions, on an engine of their own.

    Postgres connections of this engine commit without waiting for the WAL flush
    (``synchronous_commit=off``, a connection option, so no extra round trip per step). That is
    safe for the loop and only for it: a Postgres crash can lose the last fraction of a second
    of commits, but never half of one, and the worker's connection dies with the server, so its
    task fails, is retried, claims again and redoes the lost steps from what is stored (a step
    is idempotent). A worker crash loses nothing: its commits reached the server. Every other
    writer (API, exports, the reaper) keeps synchronous commits.

    For the same reason the pool does not ping a connection before each step (a round trip per
    step): a connection that broke while idle fails the step's first statement, the pool is
    invalidated, and the task is retried like after any database error.
    """
    if make_url(url).get_backend_name() != "postgresql":
        return make_session_factory(make_engine(url))
    engine = create_engine(
        url,
        connect_args={"options": "-c synchronous_commit=off"},
        pool_size=LOOP_POOL_SIZE,
        max_overflow=LOOP_POOL_OVERFLOW,
        pool_timeout=LOOP_POOL_WAIT_S,
    )
    return make_session_factory(engine)


def loop_context(
    settings: Settings,
    *,
    session_factory: sessionmaker[Session] | None = None,
    backends: BackendFactory | None = None,
    redis: Any | None = None,
    registry: EndpointRegistry | None = None,
) -> LoopContext:
    """The loop's collaborators for this process.

    ``registry`` is the endpoints the configs name (default: the settings'); the backends and the
    context windows are looked up in it.
    """
    enable_warm_starts()
    breaker: FailureBreaker = RedisBreaker(redis) if redis is not None else LocalBreaker()
    endpoints = registry or load_registry(settings)
    return LoopContext(
        session_factory=session_factory or loop_session_factory(settings.database_url),
        backend_for=backends or backend_factory(settings, redis, registry=endpoints),
        execute=execute,
        breaker=breaker,
        fail_fast_after=settings.llm_fail_fast_after,
        windows=ContextWindows(endpoints),
    )
