"""``reflectseq config``: show the effective configuration and its reference table."""

from __future__ import annotations

import typer
from pydantic import SecretStr
from pydantic.fields import FieldInfo
from rich.console import Console
from rich.table import Table

from reflectseq.settings import ENV_PREFIX, Settings, get_settings

app = typer.Typer(help="Inspect configuration.", no_args_is_help=True)


def _variable(name: str) -> str:
    return f"{ENV_PREFIX}{name.upper()}"


def _default(info: FieldInfo) -> str:
    if info.default_factory is not None:
        return "(computed)"
    if isinstance(info.default, SecretStr):
        return "(empty)" if not info.default.get_secret_value() else "(set)"
    if info.default is None or info.default == "":
        return "(empty)"
    return f"`{info.default}`"


def reference_markdown() -> str:
    """The configuration reference as a Markdown table (the README embeds this output)."""
    lines = ["| variable | default | meaning |", "|---|---|---|"]
    for name, info in Settings.model_fields.items():
        description = (info.description or "").replace("|", "\\|")
        lines.append(f"| `{_variable(name)}` | {_default(info)} | {description} |")
    return "\n".join(lines)


@app.command()
def show() -> None:
    """Print every setting with its effective value (secrets masked) and its variable name."""
    settings = get_settings()
    table = Table("variable", "value", "description")
    for name, info in Settings.model_fields.items():
        table.add_row(_variable(name), str(getattr(settings, name)), info.description or "")
    Console().print(table)


@app.command()
def reference() -> None:
    """Print the configuration reference as a Markdown table."""
    typer.echo(reference_markdown())
