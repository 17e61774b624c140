"""Fixtures of the API tests: the app on the Postgres test database, keys for every role.

The app talks to the real database and the real Redis (database 11, so that queued tasks never
reach the queues other test folders use).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from redis import Redis
from sqlalchemy.orm import Session, sessionmaker

from api.app import create_app
from api.interactive import budget_namespace
from reflectseq.db.session import transaction
from reflectseq.enums import ApiRole
from reflectseq.settings import Settings, get_settings
from reflectseq.store.api_keys import create_api_key

TEST_REDIS_URL = "redis://127.0.0.1:6379/11"


@pytest.fixture
def app(
    pg_url: str, pg_session_factory: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> FastAPI:
    """The API on the Postgres test database (emptied after each test by ``pg_engine``)."""
    monkeypatch.setenv("REFLECTSEQ_DATABASE_URL", pg_url)
    monkeypatch.setenv("REFLECTSEQ_REDIS_URL", TEST_REDIS_URL)
    monkeypatch.setenv("REFLECTSEQ_SSE_POLL_INTERVAL_S", "0.05")
    monkeypatch.setenv("REFLECTSEQ_API_KEY_CACHE_S", "0")
    get_settings.cache_clear()
    forget_interactive_budgets(get_settings())
    return create_app()


def forget_interactive_budgets(settings: Settings) -> None:
    """Drop what earlier tests spent: key and user ids restart with every emptied database."""
    client = Redis.from_url(TEST_REDIS_URL)
    pattern = f"reflectseq:ratelimit:{budget_namespace(settings)}:*"
    for name in client.scan_iter(match=pattern):
        client.delete(name)


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    """An httpx-based client calling the app in process."""
    with TestClient(app) as test_client:
        yield test_client


@pytest.fixture
def keys(pg_session_factory: sessionmaker[Session]) -> dict[ApiRole, str]:
    """One plain API key per role."""
    with transaction(pg_session_factory) as session:
        return {
            role: create_api_key(session, name=f"{role.value} key", role=role).plain_key
            for role in ApiRole
        }


def bearer(key: str) -> dict[str, str]:
    """The header carrying ``key``."""
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture
def admin(keys: dict[ApiRole, str]) -> dict[str, str]:
    """Headers of an admin."""
    return bearer(keys[ApiRole.ADMIN])


@pytest.fixture
def submitter(keys: dict[ApiRole, str]) -> dict[str, str]:
    """Headers of a submitter."""
    return bearer(keys[ApiRole.SUBMITTER])


@pytest.fixture
def reviewer(keys: dict[ApiRole, str]) -> dict[str, str]:
    """Headers of a reviewer."""
    return bearer(keys[ApiRole.REVIEWER])
