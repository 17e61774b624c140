"""Errors of the dashboard, answered as HTML pages (the JSON API keeps its own error shape)."""

from __future__ import annotations


class DashboardError(Exception):
    """A failure shown to the person at the browser, with its HTTP status."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class LoginRequired(Exception):
    """No live login: the browser is sent to the login page, and back afterwards."""
