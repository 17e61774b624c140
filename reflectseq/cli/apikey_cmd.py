"""``reflectseq apikey``: create, list and revoke API keys (directly in the database)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

from reflectseq.enums import ApiRole

if TYPE_CHECKING:
    from sqlalchemy.orm import Session, sessionmaker

app = typer.Typer(help="Manage API keys.", no_args_is_help=True)


def _factory() -> sessionmaker[Session]:
    from reflectseq.db.session import session_factory_for
    from reflectseq.settings import get_settings

    settings = get_settings()
    if settings.database_url.startswith("sqlite"):
        settings.ensure_data_dir()
    return session_factory_for(settings.database_url)


@app.command()
def create(
    role: ApiRole = typer.Option(..., help="admin, submitter or reviewer."),
    name: str = typer.Option("", help="What the key is for (shown in listings)."),
) -> None:
    """Create a key and print it. It is shown this once: only its hash is stored."""
    from reflectseq.db.session import transaction
    from reflectseq.store.api_keys import create_api_key

    with transaction(_factory()) as session:
        created = create_api_key(session, name=name or f"{role.value} key", role=role)
    typer.echo(created.plain_key)
    typer.echo(
        f"key {created.row.id} ({role.value}) created; store it now, it cannot be shown again",
        err=True,
    )


@app.command("list")
def list_keys() -> None:
    """List keys (prefix, role, state); never the keys themselves."""
    from rich.console import Console
    from rich.table import Table

    from reflectseq.db.session import transaction
    from reflectseq.store.api_keys import list_api_keys

    table = Table("id", "name", "prefix", "role", "created", "last used", "revoked")
    with transaction(_factory()) as session:
        for row in list_api_keys(session):
            table.add_row(
                str(row.id),
                row.name,
                row.prefix,
                row.role.value,
                row.created_at.isoformat(timespec="seconds"),
                row.last_used_at.isoformat(timespec="seconds") if row.last_used_at else "-",
                row.revoked_at.isoformat(timespec="seconds") if row.revoked_at else "-",
            )
    Console().print(table)


@app.command()
def revoke(key_id: int = typer.Argument(..., help="Id from `reflectseq apikey list`.")) -> None:
    """Revoke a key; requests with it get 401 from now on."""
    from reflectseq.db.session import transaction
    from reflectseq.store.api_keys import revoke_api_key
    from reflectseq.store.errors import StoreError

    try:
        with transaction(_factory()) as session:
            revoke_api_key(session, key_id)
    except StoreError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(1) from error
    typer.echo(f"key {key_id} revoked")
