"""Logging in and out.

A login is refused cheaply (429, no password checked) while its username or client address is
locked after failed attempts, and with 503 when every password-hashing slot of this process
stays busy (``api.review.login_limits``).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from api.deps import AppSettings, SessionFactory
from api.review.login_limits import (
    BUSY_MESSAGE,
    BUSY_RETRY_AFTER_S,
    AppLoginLimits,
    HashingBusy,
    Throttled,
    client_address,
)
from api.review.pages import render
from api.review.sessions import (
    SESSION_COOKIE,
    Login,
    PostingLogin,
    clear_session_cookie,
    login_token_valid,
    new_login_token,
    optional_login,
    set_login_nonce_cookie,
    set_session_cookie,
)
from reflectseq.db.session import transaction
from reflectseq.settings import Settings
from reflectseq.store.audit import AuditAction, record
from reflectseq.store.users import (
    NewWebSession,
    authenticate,
    close_web_session,
    open_web_session,
)

router = APIRouter()


def _safe_next(target: str | None) -> str:
    """Only same-site paths under /review, so the login form cannot be an open redirect."""
    if not target:
        return "/review/"
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not parts.path.startswith("/review"):
        return "/review/"
    return target


def _login_page(
    request: Request,
    settings: AppSettings,
    *,
    next_url: str,
    error: str | None,
    status: int,
    retry_after: int | None = None,
) -> HTMLResponse:
    nonce, form_token = new_login_token(settings)
    response = render(
        request,
        "login.html",
        None,
        status_code=status,
        next_url=next_url,
        error=error,
        form_token=form_token,
    )
    set_login_nonce_cookie(response, nonce, settings)
    if retry_after is not None:
        response.headers["Retry-After"] = str(retry_after)
    return response


@router.get("/login", name="login_form")
def login_form(
    request: Request,
    settings: AppSettings,
    login: Annotated[Login | None, Depends(optional_login)],
    next: str | None = None,
) -> Response:
    """The login form (or straight on, when already logged in)."""
    if login is not None:
        return RedirectResponse(_safe_next(next), status_code=303)
    return _login_page(request, settings, next_url=_safe_next(next), error=None, status=200)


def _check_and_open(
    session: Session, settings: Settings, username: str, password: str
) -> NewWebSession | None:
    """A new session when the credentials are right, else None; the audit log gets either."""
    user = authenticate(session, username, password)
    if user is None:
        # The attempted name is kept for the audit page, minus what the database cannot hold.
        attempted = username[:150].replace("\x00", "\ufffd")
        record(
            session,
            actor_id=None,
            action=AuditAction.LOGIN_FAILED,
            details={"username": attempted},
        )
        return None
    record(session, actor_id=user.id, action=AuditAction.LOGIN)
    return open_web_session(session, user, lifetime=timedelta(hours=settings.review_session_hours))


@router.post("/login")
def login_submit(
    request: Request,
    *,
    settings: AppSettings,
    factory: SessionFactory,
    limits: AppLoginLimits,
    username: Annotated[str, Form(max_length=150)] = "",
    password: Annotated[str, Form(max_length=1024)] = "",
    csrf_token: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "/review/",
) -> Response:
    """Check the credentials; on success open a server session and set its cookie."""
    target = _safe_next(next)
    if not login_token_valid(request, settings, csrf_token):
        return _login_page(
            request,
            settings,
            next_url=target,
            error="The login form expired or did not come from this site; please try again.",
            status=403,
        )
    client = client_address(request)
    try:
        with limits.password_check(username, client):
            with transaction(factory) as session:
                opened = _check_and_open(session, settings, username, password)
            if opened is None:
                limits.throttle.failed(username, client)
            else:
                limits.throttle.succeeded(username)
    except Throttled as locked:
        return _login_page(
            request,
            settings,
            next_url=target,
            error=f"Too many failed logins; try again in {locked.retry_after} seconds.",
            status=429,
            retry_after=locked.retry_after,
        )
    except HashingBusy:
        return _login_page(
            request,
            settings,
            next_url=target,
            error=BUSY_MESSAGE,
            status=503,
            retry_after=BUSY_RETRY_AFTER_S,
        )
    if opened is None:
        return _login_page(
            request,
            settings,
            next_url=target,
            error="Unknown username or wrong password.",
            status=401,
        )
    response = RedirectResponse(target, status_code=303)
    set_session_cookie(response, opened.token, settings)
    return response


@router.post("/logout")
def logout(request: Request, factory: SessionFactory, login: PostingLogin) -> Response:
    """End the server session (the cookie alone would outlive a mere cookie deletion)."""
    with transaction(factory) as session:
        close_web_session(session, request.cookies.get(SESSION_COOKIE, ""))
        record(session, actor_id=login.user_id, action=AuditAction.LOGOUT)
    response = RedirectResponse("/review/login", status_code=303)
    clear_session_cookie(response)
    return response
