"""Who is logged in, and the CSRF checks of every state-changing request.

The session cookie holds a random token whose hash names a ``web_session`` row (see
``reflectseq.store.users``); it is ``HttpOnly`` and ``SameSite=Lax``. Each session has its own
synchronizer token, which every POST must echo in a ``csrf_token`` form field (or the
``X-CSRF-Token`` header); SameSite alone would not cover older browsers or same-site attackers.

The login form exists before any session does, so it is protected differently: a random nonce
goes into a cookie and the form carries that nonce signed (``itsdangerous``) with the
installation's secret, so a forged login post (login CSRF) lacks a matching pair.
"""

from __future__ import annotations

import hmac
import os
import secrets
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Annotated

from fastapi import Depends, Request, Response
from itsdangerous import BadSignature, URLSafeTimedSerializer

from api.deps import SessionFactory
from api.review.errors import DashboardError, LoginRequired
from reflectseq.db.session import transaction
from reflectseq.enums import UserRole
from reflectseq.settings import Settings
from reflectseq.store.users import resolve_web_session

SESSION_COOKIE = "reflectseq_review_session"
LOGIN_NONCE_COOKIE = "reflectseq_review_login"
COOKIE_PATH = "/review"
LOGIN_FORM_MAX_AGE_S = 3600
SECRET_FILE = "secret_key"


@dataclass(frozen=True)
class Login:
    """The person behind the current request."""

    user_id: int
    username: str
    role: UserRole
    csrf_token: str

    @property
    def is_admin(self) -> bool:
        return self.role == UserRole.ADMIN


@lru_cache(maxsize=4)
def _secret_from_file(path: Path) -> str:
    """The installation's random secret, created on first use (readable by its owner only)."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as handle:
            handle.write(secrets.token_urlsafe(48))
    return path.read_text().strip()


def dashboard_secret(settings: Settings) -> str:
    """``secret_key`` when set, else the generated one kept in the data directory."""
    configured = settings.secret_key.get_secret_value()
    return configured or _secret_from_file(settings.data_dir / SECRET_FILE)


def _login_serializer(settings: Settings) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(dashboard_secret(settings), salt="reflectseq.review.login")


def new_login_token(settings: Settings) -> tuple[str, str]:
    """A fresh login nonce (for the cookie) and its signed form (for the login form)."""
    nonce = secrets.token_urlsafe(16)
    signed: str = _login_serializer(settings).dumps(nonce)
    return nonce, signed


def set_login_nonce_cookie(response: Response, nonce: str, settings: Settings) -> None:
    """Give the browser the nonce its login form's token was signed from."""
    response.set_cookie(
        LOGIN_NONCE_COOKIE,
        nonce,
        max_age=LOGIN_FORM_MAX_AGE_S,
        path=COOKIE_PATH,
        httponly=True,
        samesite="lax",
        secure=settings.review_cookie_secure,
    )


def login_token_valid(request: Request, settings: Settings, token: str) -> bool:
    """Whether the login form's token is the signed form of this browser's nonce cookie."""
    nonce = request.cookies.get(LOGIN_NONCE_COOKIE)
    if not nonce or not token:
        return False
    try:
        signed = _login_serializer(settings).loads(token, max_age=LOGIN_FORM_MAX_AGE_S)
    except BadSignature:
        return False
    return isinstance(signed, str) and hmac.compare_digest(signed, nonce)


def set_session_cookie(response: Response, token: str, settings: Settings) -> None:
    """Hand the browser its session token."""
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=int(settings.review_session_hours * 3600),
        path=COOKIE_PATH,
        httponly=True,
        samesite="lax",
        secure=settings.review_cookie_secure,
    )
    response.delete_cookie(LOGIN_NONCE_COOKIE, path=COOKIE_PATH)


def clear_session_cookie(response: Response) -> None:
    response.delete_cookie(SESSION_COOKIE, path=COOKIE_PATH)


def optional_login(request: Request, factory: SessionFactory) -> Login | None:
    """The live login of this browser, or None."""
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        return None
    with transaction(factory) as session:
        row = resolve_web_session(session, token)
        if row is None:
            return None
        return Login(
            user_id=row.user.id,
            username=row.user.username,
            role=row.user.role,
            csrf_token=row.csrf_token,
        )


def current_login(login: Annotated[Login | None, Depends(optional_login)]) -> Login:
    """The live login, or a redirect to the login page."""
    if login is None:
        raise LoginRequired
    return login


def admin_login(login: Annotated[Login, Depends(current_login)]) -> Login:
    """The live login of an admin; reviewers get 403."""
    if not login.is_admin:
        raise DashboardError(403, "This page is for admins only.")
    return login


async def csrf_checked_login(
    request: Request, login: Annotated[Login, Depends(current_login)]
) -> Login:
    """The live login, once the request proved it comes from one of this session's pages."""
    form = await request.form()
    sent = form.get("csrf_token") or request.headers.get("X-CSRF-Token") or ""
    if not isinstance(sent, str) or not hmac.compare_digest(sent, login.csrf_token):
        raise DashboardError(403, "The form's CSRF token is missing or stale; reload the page.")
    return login


async def csrf_checked_admin(login: Annotated[Login, Depends(csrf_checked_login)]) -> Login:
    """A CSRF-checked admin login."""
    return admin_login(login)


CurrentLogin = Annotated[Login, Depends(current_login)]
AdminLogin = Annotated[Login, Depends(admin_login)]
PostingLogin = Annotated[Login, Depends(csrf_checked_login)]
PostingAdmin = Annotated[Login, Depends(csrf_checked_admin)]
