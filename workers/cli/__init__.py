"""The commands that drive the loop's machinery: ``reflectseq run`` (embedded) and ``worker``.

They join the core's ``reflectseq`` command through the ``reflectseq.commands`` entry point
(pyproject.toml), so the core never imports this package: the dependency points one way.
"""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add ``run`` and ``worker`` to the ``reflectseq`` command."""
    # Light: each command imports its work when it runs.
    from workers.cli import run_cmd, worker_cmd

    app.command("worker")(worker_cmd.worker)
    app.command("run")(run_cmd.run)
