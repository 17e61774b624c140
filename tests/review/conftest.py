"""Fixtures of the dashboard tests: the real API app on the Postgres test database."""

from __future__ import annotations

import re
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import uvicorn
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from api.app import create_app
from reflectseq.db.session import make_session_factory
from reflectseq.settings import Settings
from tests.review.factories import PASSWORD

CSRF_FIELD = re.compile(r'name="csrf_token" value="([^"]+)"')


@pytest.fixture
def dashboard_settings(pg_url: str, tmp_path: Path) -> Settings:
    return Settings(database_url=pg_url, data_dir=tmp_path / "data", secret_key="test-secret")


@pytest.fixture
def db(pg_engine: Engine) -> sessionmaker[Session]:
    """Sessions on the same database as the app; rows are removed after each test."""
    return make_session_factory(pg_engine)


@pytest.fixture
def client(dashboard_settings: Settings, db: sessionmaker[Session]) -> Iterator[TestClient]:
    with TestClient(create_app(dashboard_settings), follow_redirects=False) as test_client:
        yield test_client


def csrf_token(html: str) -> str:
    """The CSRF token a page's forms carry."""
    match = CSRF_FIELD.search(html)
    assert match, "the page has no form with a CSRF token"
    return match.group(1)


def log_in(client: TestClient, username: str, password: str = PASSWORD) -> str:
    """Log in through the form; returns the session's CSRF token (from the queue page)."""
    form = client.get("/review/login")
    response = client.post(
        "/review/login",
        data={"username": username, "password": password, "csrf_token": csrf_token(form.text)},
    )
    assert response.status_code == 303, response.text
    return csrf_token(client.get("/review/").text)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def served(app: FastAPI) -> Iterator[str]:
    """``app`` served by uvicorn on a free loopback port in a background thread: its base URL."""
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
