"""Dashboard users (argon2-hashed passwords) and their server-side login sessions.

Passwords are hashed with argon2id (``argon2-cffi``'s defaults follow RFC 9106's recommended
parameters); a hash made with older parameters is upgraded on the next successful login. A
login for an unknown (or malformed) username still spends one hash verification, against a
dummy hash, so response time does not tell which usernames exist. New passwords must pass
``reflectseq.passwords``.

Sessions are rows, not signed cookies alone, so logging out or deactivating a user ends them at
once. The browser holds a random token; only its SHA-256 is stored.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, select
from sqlalchemy.orm import Session, joinedload

from reflectseq.db.base import utcnow
from reflectseq.db.models import User
from reflectseq.db.review_models import WebSession
from reflectseq.enums import UserRole
from reflectseq.passwords import MAX_PASSWORD_LENGTH, password_problem
from reflectseq.store.errors import NotFound, StoreError, domain_errors

USERNAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{1,149}")
SESSION_TOKEN_BYTES = 32

_hasher = PasswordHasher()
# Verified against when the username is unknown, so both paths cost one argon2 verification.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


class InvalidUserInput(StoreError):
    """A username, password or role that cannot be accepted; ``field`` names which."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.problem = message


def _check_username(username: str) -> None:
    if not USERNAME_PATTERN.fullmatch(username):
        raise InvalidUserInput(
            "username",
            "2-150 characters: letters, digits, '.', '_' or '-', starting with a letter or digit",
        )


def hash_password(password: str) -> str:
    """The argon2id hash stored for a new ``password`` (``InvalidUserInput`` if it is weak)."""
    problem = password_problem(password)
    if problem is not None:
        raise InvalidUserInput("password", problem)
    return _hasher.hash(password)


def has_password(user: User | None, password: str) -> bool:
    """Whether ``password`` is ``user``'s, at the cost of one argon2 verification.

    Without a user the verification is spent on a dummy hash (and the answer is False), so the
    time taken does not tell whether a user exists. Overlong passwords are never verified.
    """
    if len(password) > MAX_PASSWORD_LENGTH:
        return False
    try:
        matches = _hasher.verify(user.password_hash if user else _DUMMY_HASH, password)
    except (VerificationError, InvalidHashError):
        return False
    return matches and user is not None


def create_user(session: Session, *, username: str, password: str, role: UserRole) -> User:
    """A new active user; ``Conflict`` if the username is taken."""
    _check_username(username)
    user = User(username=username, password_hash=hash_password(password), role=role)
    with domain_errors():
        session.add(user)
        session.flush()
    return user


def get_user(session: Session, user_id: int) -> User:
    """The user with this id, or ``NotFound``."""
    user = session.get(User, user_id)
    if user is None:
        raise NotFound("user", user_id)
    return user


def get_user_by_name(session: Session, username: str) -> User:
    """The user with this username, or ``NotFound``."""
    user = session.scalar(select(User).where(User.username == username))
    if user is None:
        raise NotFound("user", username)
    return user


def list_users(session: Session) -> list[User]:
    """Every user, by username."""
    return list(session.scalars(select(User).order_by(User.username)))


def authenticate(session: Session, username: str, password: str) -> User | None:
    """The active user with these credentials, or None; records the login time."""
    # A name that no user can have (a NUL character, say) is not even looked up.
    user = None
    if USERNAME_PATTERN.fullmatch(username):
        user = session.scalar(select(User).where(User.username == username))
    if not has_password(user, password) or user is None or not user.active:
        return None
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = _hasher.hash(password)
    user.last_login_at = utcnow()
    return user


def update_user(
    session: Session,
    user_id: int,
    *,
    role: UserRole | None = None,
    active: bool | None = None,
    password: str | None = None,
) -> User:
    """Change a user's role, active flag or password; deactivating ends their sessions."""
    user = get_user(session, user_id)
    if role is not None:
        user.role = role
    if password is not None:
        user.password_hash = hash_password(password)
    if active is not None:
        user.active = active
    if active is False or password is not None:
        session.execute(delete(WebSession).where(WebSession.user_id == user_id))
    session.flush()
    return user


@dataclass(frozen=True)
class NewWebSession:
    """A freshly opened session and the token for the browser's cookie (never stored)."""

    row: WebSession
    token: str


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def open_web_session(session: Session, user: User, *, lifetime: timedelta) -> NewWebSession:
    """Start a login session for ``user`` with its own CSRF token.

    Expired sessions of every user are swept here, so the table stays small without a job.
    """
    now = utcnow()
    session.execute(delete(WebSession).where(WebSession.expires_at < now))
    token = secrets.token_urlsafe(SESSION_TOKEN_BYTES)
    row = WebSession(
        token_hash=_token_hash(token),
        user_id=user.id,
        csrf_token=secrets.token_urlsafe(SESSION_TOKEN_BYTES),
        expires_at=now + lifetime,
    )
    session.add(row)
    session.flush()
    return NewWebSession(row=row, token=token)


def resolve_web_session(session: Session, token: str) -> WebSession | None:
    """The live session of a cookie token (user loaded); None if unknown, expired or inactive."""
    row = session.scalar(
        select(WebSession)
        .where(WebSession.token_hash == _token_hash(token))
        .options(joinedload(WebSession.user))
    )
    if row is None or row.expires_at <= utcnow() or not row.user.active:
        return None
    return row


def close_web_session(session: Session, token: str) -> int | None:
    """End the session of a cookie token; returns its user's id, or None if there was none."""
    row = session.scalar(select(WebSession).where(WebSession.token_hash == _token_hash(token)))
    if row is None:
        return None
    user_id = row.user_id
    session.delete(row)
    session.flush()
    return user_id
