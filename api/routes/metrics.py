"""``/metrics``: Prometheus exposition of this process's events and the cluster's state.

Unauthenticated like the health probes: it carries counts, never content. Deployments keep it on
the internal network (docs/operations.md).
"""

from __future__ import annotations

import redis
from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from api.deps import AppSettings, SessionFactory
from reflectseq.metrics import CONTENT_TYPE, StateCollector, render
from reflectseq.settings import Settings

router = APIRouter(tags=["health"])

QUEUE_TIMEOUT_S = 1.0


def _queue_depth(settings: Settings) -> int | None:
    """Length of the Celery queue's Redis list; None when there is no broker or it is down."""
    if not settings.redis_url:
        return None
    client = redis.Redis.from_url(
        settings.redis_url, socket_connect_timeout=QUEUE_TIMEOUT_S, socket_timeout=QUEUE_TIMEOUT_S
    )
    try:
        return int(client.llen(settings.celery_queue))
    except redis.RedisError:
        return None
    finally:
        client.close()


@router.get("/metrics", response_class=Response, summary="Prometheus metrics")
async def metrics(settings: AppSettings, factory: SessionFactory) -> Response:
    """Event metrics of this process plus sequences/exports by status and the queue depth."""
    collector = StateCollector(factory, lambda: _queue_depth(settings))
    body = await run_in_threadpool(render, collector)
    return Response(content=body, media_type=CONTENT_TYPE)
