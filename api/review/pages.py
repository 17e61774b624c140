"""Rendering a dashboard page: the shared context every template needs and the security headers.

The content security policy allows only this origin's scripts and styles, and no inline script,
so text that slips past escaping still cannot run; the page cannot be framed (clickjacking).
"""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse

from api.review.sessions import Login
from api.review.templating import templates

SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


def render(
    request: Request,
    template: str,
    login: Login | None,
    *,
    status_code: int = 200,
    **context: Any,
) -> HTMLResponse:
    """A page rendered from ``template`` with the login (for the menu and CSRF token)."""
    response = templates.TemplateResponse(
        request, template, {"login": login, **context}, status_code=status_code
    )
    response.headers.update(SECURITY_HEADERS)
    return response
