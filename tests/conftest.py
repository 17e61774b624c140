"""Fixtures shared by every test: throw-away databases on the real Postgres server and on SQLite.

Each pytest-xdist worker gets its own Postgres database (created here, dropped at the end), so
workers never see each other's rows. ``REFLECTSEQ_TEST_DATABASE_URL`` names the server and the
base name (``.ci/run`` sets it to a database it created for the run); by default the local
server at 127.0.0.1:5432 is used.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from reflectseq.db.base import Base
from reflectseq.db.migrate import upgrade
from reflectseq.db.session import make_engine, make_session_factory
from reflectseq.settings import get_settings

DEFAULT_TEST_DATABASE_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/reflectseq_test"


def _cuda_available() -> bool:
    try:
        import torch
    except ImportError:
        return False
    return bool(torch.cuda.is_available())


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests marked ``gpu`` skip, with a reason, on machines without CUDA."""
    gpu_tests = [item for item in items if item.get_closest_marker("gpu")]
    if gpu_tests and not _cuda_available():
        skip = pytest.mark.skip(reason="needs a CUDA GPU")
        for item in gpu_tests:
            item.add_marker(skip)


def _worker_id() -> str:
    return os.environ.get("PYTEST_XDIST_WORKER", "main")


def _maintenance_engine(url: str) -> Engine:
    """A connection to the server's ``postgres`` database, outside transactions (for DDL)."""
    server = make_url(url).set(database="postgres")
    return create_engine(server, isolation_level="AUTOCOMMIT")


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """A fresh Postgres database for this test process, migrated to head, dropped afterwards."""
    base = make_url(os.environ.get("REFLECTSEQ_TEST_DATABASE_URL", DEFAULT_TEST_DATABASE_URL))
    name = f"{base.database}_{_worker_id()}_{uuid.uuid4().hex[:8]}"
    url = base.set(database=name).render_as_string(hide_password=False)
    admin = _maintenance_engine(url)
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        upgrade(url)
        yield url
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(scope="session")
def sqlite_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A fresh SQLite database file for this test process, migrated to head."""
    path = tmp_path_factory.mktemp("sqlite") / "reflectseq.db"
    url = f"sqlite:///{path}"
    upgrade(url)
    return url


@pytest.fixture(params=["postgres", "sqlite"])
def db_url(request: pytest.FixtureRequest) -> str:
    """Runs a test once on Postgres and once on SQLite."""
    return str(request.getfixturevalue("pg_url" if request.param == "postgres" else "sqlite_url"))


def _empty_all_tables(engine: Engine) -> None:
    """Remove every row, so the next test starts from an empty (but migrated) database."""
    with engine.begin() as connection:
        if engine.dialect.name == "postgresql":
            names = ", ".join(f'"{table.name}"' for table in Base.metadata.sorted_tables)
            connection.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
        else:
            for table in reversed(Base.metadata.sorted_tables):
                connection.execute(table.delete())


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    """An engine on ``db_url``; the tables are emptied after the test."""
    engine = make_engine(db_url)
    try:
        yield engine
    finally:
        _empty_all_tables(engine)
        engine.dispose()


@pytest.fixture
def session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions on ``db_url`` (both backends)."""
    return make_session_factory(engine)


@pytest.fixture
def pg_engine(pg_url: str) -> Iterator[Engine]:
    """An engine on the Postgres test database only; the tables are emptied after the test."""
    engine = make_engine(pg_url)
    try:
        yield engine
    finally:
        _empty_all_tables(engine)
        engine.dispose()


@pytest.fixture
def pg_session_factory(pg_engine: Engine) -> sessionmaker[Session]:
    """Sessions on the Postgres test database only."""
    return make_session_factory(pg_engine)


@pytest.fixture(autouse=True)
def isolated_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Every test gets its own data directory and freshly read settings."""
    monkeypatch.setenv("REFLECTSEQ_DATA_DIR", str(tmp_path / "data"))
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()
