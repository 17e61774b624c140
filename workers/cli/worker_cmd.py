"""``reflectseq worker``: a Celery worker processing sequences from the Redis queue.

One process runs ``--concurrency`` sequences at once, each task on a thread of Celery's
``threads`` pool. A sequence spends its time waiting (on the model, on the sandbox, on the
database), so threads cost it little: a thread's stack instead of a process of its own. The
process's LLM requests share one event loop and one adaptive in-flight limit per endpoint,
executions take the host's sandbox slots, and database sessions come from one pool.
"""

from __future__ import annotations

import os
import sys
import tempfile
from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:
    from reflectseq.settings import Settings

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


def serve_worker_metrics(port: int) -> None:
    """Serve the metrics of every process of this worker, aggregated, on ``port``.

    prometheus_client's multiprocess mode adds up what every process of the worker records,
    through files in ``PROMETHEUS_MULTIPROC_DIR``, whichever Celery pool runs the tasks. That
    mode is chosen when the library is imported, which has happened by now, so the first call
    re-executes this same command with the variable set; the second serves the aggregate.
    """
    if not os.environ.get(MULTIPROC_ENV):
        os.environ[MULTIPROC_ENV] = tempfile.mkdtemp(prefix="reflectseq-metrics-")
        os.execv(sys.executable, [sys.executable, "-m", "reflectseq", *sys.argv[1:]])
    from prometheus_client import start_http_server

    from reflectseq.metrics import event_registry

    start_http_server(port, registry=event_registry())


def worker(
    concurrency: int | None = typer.Option(
        None,
        "--concurrency",
        "-c",
        help="Sequences in flight at once in this process (default: "
        "REFLECTSEQ_WORKER_CONCURRENCY).",
    ),
    queue: str | None = typer.Option(None, "--queue", "-Q", help="Queue to consume."),
    beat: bool = typer.Option(
        True,
        "--beat/--no-beat",
        help="Take part in housekeeping (the reaper of abandoned sequences): one worker of the "
        "fleet runs it at a time, chosen through a Redis lock.",
    ),
    loglevel: str = typer.Option("INFO", "--loglevel", "-l", help="Celery log level."),
    metrics_port: int | None = typer.Option(
        None,
        "--metrics-port",
        min=1,
        max=65535,
        help="Serve Prometheus metrics (LLM calls, sandbox executions) of all this worker's "
        "processes on this port.",
    ),
) -> None:
    """Start a worker; run as many as you like on any number of hosts."""
    from reflectseq.settings import get_settings

    settings = get_settings()
    if settings.embedded:
        typer.echo(
            "reflectseq worker needs a broker: set REFLECTSEQ_REDIS_URL "
            "(for one machine without Redis, use `reflectseq run`).",
            err=True,
        )
        raise typer.Exit(2)
    if metrics_port is not None:
        serve_worker_metrics(metrics_port)
    from workers.celery_app import app

    if beat:
        _house_keep_when_ready(settings)

    argv = [
        "worker",
        "--pool=threads",
        f"--concurrency={concurrency or settings.worker_concurrency}",
        f"--queues={queue or settings.celery_queue}",
        f"--loglevel={loglevel}",
        "--without-gossip",
        "--without-mingle",
    ]
    app.worker_main(argv=argv)


def _house_keep_when_ready(settings: Settings) -> None:
    """Start the housekeeper thread in this (the main) process once the pool runs."""
    from celery.signals import worker_ready

    from workers.housekeeping import fleet_housekeeper
    from workers.runtime import redis_client

    def start(**_: object) -> None:
        redis = redis_client(settings)
        assert redis is not None  # a worker always has its broker
        fleet_housekeeper(settings, redis).start()

    worker_ready.connect(start, weak=False)
