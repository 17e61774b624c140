"""The ``reflectseq`` command line. Each command group lives in its own module.

Commands that need the service parts (``serve`` from ``api``; ``run`` and ``worker`` from
``workers``) join through the ``reflectseq.commands`` entry point group: the core names no
module above it, and each part adds its own commands.
"""

from __future__ import annotations

from importlib.metadata import entry_points

import typer

from reflectseq import __version__
from reflectseq.cli import (
    apikey_cmd,
    client_cmd,
    config_cmd,
    db_cmd,
    eval_cmd,
    export_cmd,
    sandbox_cmd,
    train_cmd,
    user_cmd,
)

COMMAND_GROUP = "reflectseq.commands"

app = typer.Typer(
    name="reflectseq",
    help=(
        "Build reflection-sequence training data for code LLMs "
        "(generate, execute, analyze, fix) and train on it."
    ),
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)
app.add_typer(db_cmd.app, name="db")
app.add_typer(apikey_cmd.app, name="apikey")
app.command("submit")(client_cmd.submit)
app.command("status")(client_cmd.status)
app.add_typer(config_cmd.app, name="config")
app.add_typer(sandbox_cmd.app, name="sandbox")
app.command("train")(train_cmd.train)
app.add_typer(user_cmd.app, name="user")
export_cmd.register(app)
app.add_typer(eval_cmd.app, name="eval")
for command in entry_points(group=COMMAND_GROUP):
    command.load()(app)


@app.command()
def version() -> None:
    """Print the installed reflectseq version."""
    typer.echo(__version__)


def main() -> None:
    """Console-script entry point."""
    app()
