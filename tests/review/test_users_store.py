"""Users and login sessions against the real databases (Postgres and SQLite)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from reflectseq.db.review_models import AuditEntry, WebSession
from reflectseq.db.session import transaction
from reflectseq.enums import UserRole
from reflectseq.store.errors import Conflict
from reflectseq.store.users import (
    InvalidUserInput,
    authenticate,
    close_web_session,
    create_user,
    open_web_session,
    resolve_web_session,
    update_user,
)
from tests.review.factories import PASSWORD, user


def test_passwords_are_stored_as_argon2id_hashes(session_factory: sessionmaker[Session]) -> None:
    with transaction(session_factory) as session:
        alice = user(session, "alice")
        assert alice.password_hash.startswith("$argon2id$")
        assert PASSWORD not in alice.password_hash


def test_authenticate_accepts_only_the_right_password_of_an_active_user(
    session_factory: sessionmaker[Session],
) -> None:
    with transaction(session_factory) as session:
        alice_id = user(session, "alice").id
    with transaction(session_factory) as session:
        assert authenticate(session, "alice", "wrong password!") is None
        assert authenticate(session, "nobody", PASSWORD) is None
        assert authenticate(session, "ali\x00ce", PASSWORD) is None  # never reaches the database
        found = authenticate(session, "alice", PASSWORD)
        assert found is not None and found.last_login_at is not None
        update_user(session, alice_id, active=False)
        assert authenticate(session, "alice", PASSWORD) is None


@pytest.mark.parametrize(
    ("username", "password", "field"),
    [
        ("al ice", PASSWORD, "username"),
        ("-alice", PASSWORD, "username"),
        ("alice\n", PASSWORD, "username"),
        ("bob", "short", "password"),
        ("bob", "Password1234!", "password"),
    ],
)
def test_bad_usernames_and_passwords_name_the_field(
    session_factory: sessionmaker[Session], username: str, password: str, field: str
) -> None:
    with pytest.raises(InvalidUserInput) as caught, transaction(session_factory) as session:
        create_user(session, username=username, password=password, role=UserRole.REVIEWER)
    assert caught.value.field == field


def test_a_taken_username_is_a_conflict(session_factory: sessionmaker[Session]) -> None:
    with transaction(session_factory) as session:
        user(session, "alice")
    with pytest.raises(Conflict, match="username"), transaction(session_factory) as session:
        user(session, "alice", UserRole.ADMIN)


def test_sessions_resolve_until_closed_expired_or_the_user_is_deactivated(
    session_factory: sessionmaker[Session],
) -> None:
    with transaction(session_factory) as session:
        alice = user(session, "alice")
        live = open_web_session(session, alice, lifetime=timedelta(hours=1))
        closed = open_web_session(session, alice, lifetime=timedelta(hours=1))
        expired = open_web_session(session, alice, lifetime=timedelta(seconds=-1))
        assert live.row.token_hash != live.token  # only the hash is stored
    with transaction(session_factory) as session:
        resolved = resolve_web_session(session, live.token)
        assert resolved is not None and resolved.user.username == "alice"
        assert resolved.csrf_token == live.row.csrf_token
        assert close_web_session(session, closed.token) == alice.id
        assert resolve_web_session(session, closed.token) is None
        assert resolve_web_session(session, expired.token) is None
        assert resolve_web_session(session, "forged") is None
    with transaction(session_factory) as session:
        update_user(session, alice.id, active=False)
    with transaction(session_factory) as session:
        assert resolve_web_session(session, live.token) is None
        assert session.scalars(select(WebSession)).all() == []


def test_cli_creates_a_user_who_can_log_in(pg_url: str, pg_engine: Engine) -> None:
    from typer.testing import CliRunner

    from reflectseq.cli import app
    from reflectseq.db.session import session_factory_for

    runner = CliRunner()
    args = ["user", "create", "carol", "--role", "admin", "--database-url", pg_url]
    created = runner.invoke(app, [*args, "--password", PASSWORD])
    assert created.exit_code == 0, created.output
    again = runner.invoke(app, [*args, "--password", PASSWORD])
    assert again.exit_code == 2 and "already exists" in again.output
    weak = runner.invoke(
        app, ["user", "create", "dave", "--password", "x", "--database-url", pg_url]
    )
    assert weak.exit_code == 2 and "password" in weak.output
    with transaction(session_factory_for(pg_url)) as session:
        carol = authenticate(session, "carol", PASSWORD)
        assert carol is not None and carol.role == UserRole.ADMIN


def test_cli_sets_a_new_password_and_ends_the_sessions(
    pg_url: str, pg_session_factory: sessionmaker[Session]
) -> None:
    from typer.testing import CliRunner

    from reflectseq.cli import app

    new_password = "a brand new passphrase"
    with transaction(pg_session_factory) as session:
        erin = user(session, "erin")
        opened = open_web_session(session, erin, lifetime=timedelta(hours=1))
    runner = CliRunner()
    base = ["user", "set-password", "--database-url", pg_url]
    weak = runner.invoke(app, [*base, "erin", "--password", "aaaaaaaaaaaaaa"])
    assert weak.exit_code == 2 and "one character repeated" in weak.output
    unknown = runner.invoke(app, [*base, "nobody", "--password", new_password])
    assert unknown.exit_code == 2 and "nobody" in unknown.output
    changed = runner.invoke(app, [*base, "erin"], input=f"{new_password}\n{new_password}\n")
    assert changed.exit_code == 0, changed.output
    with transaction(pg_session_factory) as session:
        assert authenticate(session, "erin", PASSWORD) is None
        assert authenticate(session, "erin", new_password) is not None
        assert resolve_web_session(session, opened.token) is None
        entries = session.scalars(select(AuditEntry).where(AuditEntry.action == "user.password"))
        assert [entry.details for entry in entries] == [{"user": "erin", "via": "cli"}]
