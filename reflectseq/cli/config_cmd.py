"""``reflectseq config``: show the effective configuration."""

from __future__ import annotations

import typer
from rich.console import Console
from rich.table import Table

from reflectseq.settings import ENV_PREFIX, Settings, get_settings

app = typer.Typer(help="Inspect configuration.", no_args_is_help=True)


@app.command()
def show() -> None:
    """Print every setting with its effective value (secrets masked) and its variable name."""
    settings = get_settings()
    table = Table("variable", "value", "description")
    for name, info in Settings.model_fields.items():
        value = getattr(settings, name)
        table.add_row(f"{ENV_PREFIX}{name.upper()}", str(value), info.description or "")
    Console().print(table)
