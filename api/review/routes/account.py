"""The change-password page: every logged-in user changes their own password here.

The current password is required (a borrowed, unlocked browser must not be enough), the form
is CSRF-checked like every post, and wrong current passwords count towards the same throttle as
failed logins. A change ends every session of the user; this browser gets a fresh one.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Form, Request
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
from api.review.sessions import CurrentLogin, Login, PostingLogin, set_session_cookie
from reflectseq.db.session import transaction
from reflectseq.passwords import MAX_PASSWORD_LENGTH, MIN_PASSWORD_LENGTH, RULES
from reflectseq.settings import Settings
from reflectseq.store.audit import AuditAction, record
from reflectseq.store.users import (
    InvalidUserInput,
    NewWebSession,
    get_user,
    has_password,
    open_web_session,
    update_user,
)

router = APIRouter()
PasswordField = Annotated[str, Form(max_length=MAX_PASSWORD_LENGTH)]


def _page(
    request: Request,
    login: Login,
    *,
    status: int = 200,
    error: str | None = None,
    changed: bool = False,
    retry_after: int | None = None,
) -> HTMLResponse:
    response = render(
        request,
        "password.html",
        login,
        status_code=status,
        error=error,
        changed=changed,
        rules=RULES,
        min_length=MIN_PASSWORD_LENGTH,
    )
    if retry_after is not None:
        response.headers["Retry-After"] = str(retry_after)
    return response


@router.get("/password", name="password_form")
def password_form(request: Request, login: CurrentLogin) -> Response:
    """The form (with a notice after a change)."""
    return _page(request, login, changed=request.query_params.get("changed") == "1")


def _change(
    session: Session, settings: Settings, login: Login, current: str, new: str
) -> NewWebSession | None:
    """Set the new password if ``current`` is right (else None) and open a fresh session."""
    user = get_user(session, login.user_id)
    if not has_password(user, current):
        return None
    if new == current:
        raise InvalidUserInput("password", "must differ from the current one")
    update_user(session, user.id, password=new)  # ends every session of the user
    record(
        session,
        actor_id=user.id,
        action=AuditAction.USER_PASSWORD,
        details={"user": user.username, "via": "dashboard"},
    )
    return open_web_session(session, user, lifetime=timedelta(hours=settings.review_session_hours))


@router.post("/password", name="change_password")
def change_password(
    request: Request,
    *,
    factory: SessionFactory,
    settings: AppSettings,
    limits: AppLoginLimits,
    login: PostingLogin,
    current_password: PasswordField = "",
    new_password: PasswordField = "",
    repeat_password: PasswordField = "",
) -> Response:
    """Check the current password, apply the rules to the new one, and store it."""
    if new_password != repeat_password:
        return _page(request, login, status=400, error="The two new passwords differ.")
    client = client_address(request)
    try:
        with limits.password_check(login.username, client):
            with transaction(factory) as session:
                opened = _change(session, settings, login, current_password, new_password)
            if opened is None:
                limits.throttle.failed(login.username, client)
            else:
                limits.throttle.succeeded(login.username)
    except Throttled as locked:
        error = f"Too many wrong passwords; try again in {locked.retry_after} seconds."
        return _page(request, login, status=429, error=error, retry_after=locked.retry_after)
    except HashingBusy:
        return _page(request, login, status=503, error=BUSY_MESSAGE, retry_after=BUSY_RETRY_AFTER_S)
    except InvalidUserInput as error:
        return _page(request, login, status=400, error=f"The new password {error.problem}.")
    if opened is None:
        return _page(request, login, status=400, error="The current password is wrong.")
    response = RedirectResponse("/review/password?changed=1", status_code=303)
    set_session_cookie(response, opened.token, settings)
    return response
