"""``/healthz`` (the process answers) and ``/readyz`` (its database and broker answer)."""

from __future__ import annotations

import redis
from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from sqlalchemy import text

from api.deps import AppSettings, SessionFactory
from api.schemas import HealthOut, ReadyOut

router = APIRouter(tags=["health"])

READY_TIMEOUT_S = 2.0


@router.get("/healthz", response_model=HealthOut, summary="Liveness")
def healthz() -> HealthOut:
    """Answers as long as the process serves requests; checks nothing else on purpose."""
    return HealthOut(status="ok")


def _check_database(factory: SessionFactory) -> str:
    try:
        with factory() as session:
            session.execute(text("SELECT 1"))
    except Exception as error:  # any failure means "not ready"; the reason is reported
        return f"error: {type(error).__name__}"
    return "ok"


def _check_redis(redis_url: str) -> str:
    if not redis_url:
        return "not configured"
    try:
        client = redis.Redis.from_url(
            redis_url, socket_connect_timeout=READY_TIMEOUT_S, socket_timeout=READY_TIMEOUT_S
        )
        try:
            client.ping()
        finally:
            client.close()
    except redis.RedisError as error:
        return f"error: {type(error).__name__}"
    return "ok"


@router.get(
    "/readyz",
    response_model=ReadyOut,
    responses={503: {"model": ReadyOut, "description": "A dependency does not answer."}},
    summary="Readiness",
)
async def readyz(settings: AppSettings, factory: SessionFactory) -> JSONResponse:
    """200 when the database (and Redis, when configured) answer; 503 otherwise."""
    checks = {
        "database": await run_in_threadpool(_check_database, factory),
        "redis": await run_in_threadpool(_check_redis, settings.redis_url),
    }
    ready = all(value in {"ok", "not configured"} for value in checks.values())
    body = ReadyOut(status="ok" if ready else "unavailable", checks=checks)
    return JSONResponse(body.model_dump(), status_code=200 if ready else 503)
