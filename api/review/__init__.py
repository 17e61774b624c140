"""The review dashboard, served by the API app under ``/review``.

Server-rendered pages (Jinja2) with one small script for keyboard shortcuts: every action is a
plain form post, so the dashboard works without JavaScript and each page is one request.
``install_review_dashboard(app)`` adds the routes, the static files and the HTML error pages.
"""

from __future__ import annotations

from urllib.parse import urlencode

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from api.review.errors import DashboardError, LoginRequired
from api.review.pages import render
from api.review.routes import router
from api.review.templating import STATIC_DIR

__all__ = ["install_review_dashboard"]


async def _error_page(request: Request, error: Exception) -> Response:
    assert isinstance(error, DashboardError)
    return render(
        request,
        "error.html",
        None,
        status_code=error.status,
        status=error.status,
        message=error.message,
    )


async def _to_login(request: Request, _error: Exception) -> Response:
    """Send an anonymous visitor to the login form; ``next`` returns them there afterwards."""
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"/review/login?{urlencode({'next': target})}", status_code=303)


def install_review_dashboard(app: FastAPI) -> None:
    """Mount the dashboard on ``app``, whose state carries the settings and a session factory."""
    app.include_router(router)
    app.mount("/review/static", StaticFiles(directory=STATIC_DIR), name="review_static")
    app.add_exception_handler(DashboardError, _error_page)
    app.add_exception_handler(LoginRequired, _to_login)
