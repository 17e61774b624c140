"""``reflectseq user``: manage review-dashboard logins from the shell (the first admin, say)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from enum import StrEnum
from typing import TYPE_CHECKING

import typer

from reflectseq.cli.db_cmd import DatabaseOption, _url
from reflectseq.enums import UserRole
from reflectseq.passwords import RULES

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

app = typer.Typer(help="Manage review-dashboard users.", no_args_is_help=True)

NewPasswordOption = typer.Option(
    ...,
    "--password",
    prompt=True,
    hide_input=True,
    confirmation_prompt=True,
    envvar="REFLECTSEQ_NEW_USER_PASSWORD",
    help=f"Asked for when not given (or set REFLECTSEQ_NEW_USER_PASSWORD). {RULES}",
)


class RoleChoice(StrEnum):
    """Typer needs a plain enum to offer the roles as choices."""

    ADMIN = UserRole.ADMIN.value
    REVIEWER = UserRole.REVIEWER.value


@contextmanager
def _user_change(database_url: str | None) -> Iterator[Session]:
    """One transaction; a refused change rolls back and exits with status 2 and the reason."""
    from reflectseq.db.session import session_factory_for, transaction
    from reflectseq.store.errors import Conflict, NotFound
    from reflectseq.store.users import InvalidUserInput

    try:
        with transaction(session_factory_for(_url(database_url))) as session:
            yield session
    except (InvalidUserInput, Conflict, NotFound) as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(code=2) from error


@app.command()
def create(
    username: str = typer.Argument(..., help="Login name."),
    role: RoleChoice = typer.Option(RoleChoice.REVIEWER, "--role", help="admin or reviewer."),
    password: str = NewPasswordOption,
    database_url: str | None = DatabaseOption,
) -> None:
    """Create a dashboard user with an argon2-hashed password."""
    from reflectseq.store.audit import AuditAction, record
    from reflectseq.store.users import create_user

    with _user_change(database_url) as session:
        user = create_user(session, username=username, password=password, role=UserRole(role.value))
        record(
            session,
            actor_id=None,
            action=AuditAction.USER_CREATE,
            details={"user": user.username, "role": user.role.value, "via": "cli"},
        )
    typer.echo(f"created {role.value} {username}")


@app.command("set-password")
def set_password(
    username: str = typer.Argument(..., help="Login name."),
    password: str = NewPasswordOption,
    database_url: str | None = DatabaseOption,
) -> None:
    """Give a dashboard user a new password; their open sessions end at once."""
    from reflectseq.store.audit import AuditAction, record
    from reflectseq.store.users import get_user_by_name, update_user

    with _user_change(database_url) as session:
        user = update_user(session, get_user_by_name(session, username).id, password=password)
        record(
            session,
            actor_id=None,
            action=AuditAction.USER_PASSWORD,
            details={"user": user.username, "via": "cli"},
        )
    typer.echo(f"new password set for {username}; their sessions were ended")


@app.command("list")
def list_command(
    database_url: str | None = DatabaseOption,
) -> None:
    """List the dashboard users."""
    from reflectseq.db.session import session_factory_for, transaction
    from reflectseq.store.users import list_users

    with transaction(session_factory_for(_url(database_url))) as session:
        for user in list_users(session):
            state = "active" if user.active else "inactive"
            typer.echo(f"{user.username}\t{user.role.value}\t{state}")
