"""``reflectseq serve``: run the REST API (and dashboard) under uvicorn.

Registered on the core's command line through the ``reflectseq.commands`` entry point.
"""

from __future__ import annotations

import typer


def serve(
    host: str | None = typer.Option(None, help="Bind address (default REFLECTSEQ_API_HOST)."),
    port: int | None = typer.Option(None, help="Port (default REFLECTSEQ_API_PORT)."),
    workers: int = typer.Option(1, min=1, help="Worker processes."),
) -> None:
    """Serve the API with uvicorn; OpenAPI docs at /docs."""
    # Imported here: the command line starts without the web stack.
    import uvicorn  # noqa: PLC0415

    from reflectseq.settings import get_settings  # noqa: PLC0415

    settings = get_settings()
    uvicorn.run(
        "api.app:create_app",
        factory=True,
        host=host or settings.api_host,
        port=port or settings.api_port,
        workers=workers,
        log_level=settings.log_level.lower(),
    )


def register(app: typer.Typer) -> None:
    """Add ``serve`` to the ``reflectseq`` command (the ``reflectseq.commands`` entry point)."""
    app.command("serve")(serve)
