"""``reflectseq db``: apply and revert schema migrations."""

from __future__ import annotations

import typer

app = typer.Typer(help="Manage the database schema (Alembic migrations).", no_args_is_help=True)

DatabaseOption = typer.Option(
    None,
    "--database-url",
    help="Database to act on; defaults to REFLECTSEQ_DATABASE_URL (embedded SQLite if unset).",
)


def _url(database_url: str | None) -> str:
    from reflectseq.settings import get_settings

    settings = get_settings()
    if database_url:
        return database_url
    if settings.database_url.startswith("sqlite"):
        settings.ensure_data_dir()
    return settings.database_url


@app.command()
def upgrade(
    revision: str = typer.Argument("head", help="Target revision."),
    database_url: str | None = DatabaseOption,
) -> None:
    """Migrate the database up to REVISION (default: the newest)."""
    from reflectseq.db import migrate

    url = _url(database_url)
    migrate.upgrade(url, revision)
    typer.echo(f"database at revision {migrate.current_revision(url)}")


@app.command()
def downgrade(
    revision: str = typer.Argument(..., help="Target revision; 'base' removes every table."),
    database_url: str | None = DatabaseOption,
) -> None:
    """Migrate the database down to REVISION."""
    from reflectseq.db import migrate

    url = _url(database_url)
    migrate.downgrade(url, revision)
    typer.echo(f"database at revision {migrate.current_revision(url) or 'base'}")


@app.command()
def current(database_url: str | None = DatabaseOption) -> None:
    """Show the database's revision and the newest one this version knows."""
    from reflectseq.db import migrate

    url = _url(database_url)
    typer.echo(f"current: {migrate.current_revision(url) or 'base'}")
    typer.echo(f"head:    {migrate.head_revision(url)}")
