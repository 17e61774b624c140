"""The review dashboard, served by the API app under ``/review``.

Server-rendered pages (Jinja2) with one small script for keyboard shortcuts: every action is a
plain form post, so the dashboard works without JavaScript and each page is one request.
``install_review_dashboard(app)`` adds the routes, the static files and the HTML error pages.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import cast
from urllib.parse import urlencode

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from api.errors import field_path
from api.review.errors import DashboardError, LoginRequired
from api.review.login_limits import login_limits_for
from api.review.pages import render
from api.review.routes import router
from api.review.templating import STATIC_DIR

__all__ = ["install_review_dashboard"]

DASHBOARD_PREFIX = "/review"
logger = logging.getLogger(__name__)
Handler = Callable[[Request, Exception], Awaitable[Response]]


def _error_page(
    request: Request, status: int, message: str, headers: dict[str, str] | None = None
) -> Response:
    response = render(
        request, "error.html", None, status_code=status, status=status, message=message
    )
    response.headers.update(headers or {})
    return response


async def _dashboard_error(request: Request, error: Exception) -> Response:
    assert isinstance(error, DashboardError)
    return _error_page(request, error.status, error.message)


async def _invalid_request(request: Request, error: Exception) -> Response:
    """A path, query or form value FastAPI refused (an id out of range, a missing field)."""
    assert isinstance(error, RequestValidationError)
    problems = "; ".join(
        f"{field_path(problem['loc'][1:]) or problem['loc'][0]}: {problem['msg']}"
        for problem in error.errors()
    )
    return _error_page(request, 400, f"The request is invalid: {problems}.")


async def _http_error(request: Request, error: Exception) -> Response:
    """Unknown dashboard paths and wrong methods, as pages like every other dashboard answer."""
    assert isinstance(error, StarletteHTTPException)
    return _error_page(request, error.status_code, str(error.detail), dict(error.headers or {}))


async def _server_error(request: Request, error: Exception) -> Response:
    logger.exception("unhandled error on a dashboard page", exc_info=error)
    return _error_page(request, 500, "Something went wrong on the server; it has been logged.")


async def _to_login(request: Request, _error: Exception) -> Response:
    """Send an anonymous visitor to the login form; ``next`` returns them there afterwards."""
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"/review/login?{urlencode({'next': target})}", status_code=303)


def _on_dashboard(page: Handler, api: Handler) -> Handler:
    """A handler answering with ``page`` under /review and with the API's ``api`` elsewhere."""

    async def handler(request: Request, error: Exception) -> Response:
        path = request.url.path
        if path == DASHBOARD_PREFIX or path.startswith(f"{DASHBOARD_PREFIX}/"):
            return await page(request, error)
        return await api(request, error)

    return handler


def install_review_dashboard(app: FastAPI) -> None:
    """Mount the dashboard on ``app``, whose state carries the settings and a session factory.

    The login limits (throttle and hashing slots) are made here, one set per app.

    The API's error handlers must be installed first: for the errors both parts can raise, the
    dashboard answers with an HTML page (with the security headers) under /review and leaves
    the JSON error shape to the rest.
    """
    app.state.login_limits = login_limits_for(app.state.settings)
    app.include_router(router)
    app.mount("/review/static", StaticFiles(directory=STATIC_DIR), name="review_static")
    app.add_exception_handler(DashboardError, _dashboard_error)
    app.add_exception_handler(LoginRequired, _to_login)
    for kind, page in (
        (RequestValidationError, _invalid_request),
        (StarletteHTTPException, _http_error),
        (Exception, _server_error),
    ):
        api = cast(Handler, app.exception_handlers[kind])  # api.errors' handlers are async
        app.add_exception_handler(kind, _on_dashboard(page, api))
