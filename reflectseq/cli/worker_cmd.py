"""``reflectseq worker``: a Celery worker processing sequences from the Redis queue."""

from __future__ import annotations

import typer

from reflectseq.settings import get_settings


def worker(
    concurrency: int | None = typer.Option(
        None,
        "--concurrency",
        "-c",
        help="Sequences at once (default: REFLECTSEQ_WORKER_CONCURRENCY).",
    ),
    queue: str | None = typer.Option(None, "--queue", "-Q", help="Queue to consume."),
    beat: bool = typer.Option(
        True, "--beat/--no-beat", help="Also run the periodic reaper of abandoned sequences."
    ),
    loglevel: str = typer.Option("INFO", "--loglevel", "-l", help="Celery log level."),
) -> None:
    """Start a worker; run as many as you like on any number of hosts."""
    settings = get_settings()
    if settings.embedded:
        typer.echo(
            "reflectseq worker needs a broker: set REFLECTSEQ_REDIS_URL "
            "(for one machine without Redis, use `reflectseq run`).",
            err=True,
        )
        raise typer.Exit(2)
    from workers.celery_app import app  # noqa: PLC0415 - Celery loads only for this command

    argv = [
        "worker",
        "--pool=prefork",
        f"--concurrency={concurrency or settings.worker_concurrency}",
        f"--queues={queue or settings.celery_queue}",
        f"--loglevel={loglevel}",
        "--without-gossip",
        "--without-mingle",
    ]
    if beat:
        argv.append("--beat")
    app.worker_main(argv=argv)
