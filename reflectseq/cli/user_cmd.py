"""``reflectseq user``: manage review-dashboard logins from the shell (the first admin, say)."""

from __future__ import annotations

from enum import StrEnum

import typer

from reflectseq.db.session import session_factory_for, transaction
from reflectseq.enums import UserRole
from reflectseq.settings import get_settings
from reflectseq.store.audit import AuditAction, record
from reflectseq.store.errors import Conflict
from reflectseq.store.users import InvalidUserInput, create_user, list_users

app = typer.Typer(help="Manage review-dashboard users.", no_args_is_help=True)


class RoleChoice(StrEnum):
    """Typer needs a plain enum to offer the roles as choices."""

    ADMIN = UserRole.ADMIN.value
    REVIEWER = UserRole.REVIEWER.value


@app.command()
def create(
    username: str = typer.Argument(..., help="Login name."),
    role: RoleChoice = typer.Option(RoleChoice.REVIEWER, "--role", help="admin or reviewer."),
    password: str = typer.Option(
        ...,
        "--password",
        prompt=True,
        hide_input=True,
        confirmation_prompt=True,
        envvar="REFLECTSEQ_NEW_USER_PASSWORD",
        help="Asked for when not given (or set REFLECTSEQ_NEW_USER_PASSWORD).",
    ),
    database_url: str | None = typer.Option(
        None, "--database-url", help="Defaults to REFLECTSEQ_DATABASE_URL."
    ),
) -> None:
    """Create a dashboard user with an argon2-hashed password."""
    url = database_url or get_settings().database_url
    try:
        with transaction(session_factory_for(url)) as session:
            user = create_user(
                session, username=username, password=password, role=UserRole(role.value)
            )
            record(
                session,
                actor_id=None,
                action=AuditAction.USER_CREATE,
                details={"user": user.username, "role": user.role.value, "via": "cli"},
            )
    except (InvalidUserInput, Conflict) as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(code=2) from error
    typer.echo(f"created {role.value} {username}")


@app.command("list")
def list_command(
    database_url: str | None = typer.Option(
        None, "--database-url", help="Defaults to REFLECTSEQ_DATABASE_URL."
    ),
) -> None:
    """List the dashboard users."""
    url = database_url or get_settings().database_url
    with transaction(session_factory_for(url)) as session:
        for user in list_users(session):
            state = "active" if user.active else "inactive"
            typer.echo(f"{user.username}\t{user.role.value}\t{state}")
