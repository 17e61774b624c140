"""Fixtures shared by every test: throw-away databases on the real Postgres server and on SQLite.

Each pytest-xdist worker gets its own Postgres database (created here, dropped at the end), so
workers never see each other's rows. ``REFLECTSEQ_TEST_DATABASE_URL`` names the server and the
base name (``.ci/run`` sets it to a database it created for the run); by default the local
server at 127.0.0.1:5432 is used.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from reflectseq.db.base import Base
from reflectseq.db.migrate import upgrade
from reflectseq.db.scratch import scratch_database
from reflectseq.db.session import make_engine, make_session_factory
from reflectseq.sandbox import reset_backend
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


def scratch_prefix(kind: str = "") -> str:
    """Name prefix of this process's scratch databases: the base name, the kind, the worker."""
    base = make_url(os.environ.get("REFLECTSEQ_TEST_DATABASE_URL", DEFAULT_TEST_DATABASE_URL))
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    return "_".join(part for part in (base.database, kind, worker) if part)


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """A fresh Postgres database for this test process, migrated to head, dropped afterwards."""
    base = make_url(os.environ.get("REFLECTSEQ_TEST_DATABASE_URL", DEFAULT_TEST_DATABASE_URL))
    with scratch_database(base.render_as_string(hide_password=False), scratch_prefix()) as url:
        yield url


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


def _engine_emptied_afterwards(url: str) -> Iterator[Engine]:
    engine = make_engine(url)
    try:
        yield engine
    finally:
        _empty_all_tables(engine)
        engine.dispose()


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    """An engine on ``db_url``; the tables are emptied after the test."""
    yield from _engine_emptied_afterwards(db_url)


@pytest.fixture
def session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions on ``db_url`` (both backends)."""
    return make_session_factory(engine)


@pytest.fixture
def pg_engine(pg_url: str) -> Iterator[Engine]:
    """An engine on the Postgres test database only; the tables are emptied after the test."""
    yield from _engine_emptied_afterwards(pg_url)


@pytest.fixture
def pg_session_factory(pg_engine: Engine) -> sessionmaker[Session]:
    """Sessions on the Postgres test database only."""
    return make_session_factory(pg_engine)


@pytest.fixture(autouse=True)
def isolated_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Every test gets its own data directory and freshly read settings, and leaves no sandbox
    backend behind (a loop run in the test process keeps warm sandboxes waiting)."""
    monkeypatch.setenv("REFLECTSEQ_DATA_DIR", str(tmp_path / "data"))
    get_settings.cache_clear()
    yield
    reset_backend()
    get_settings.cache_clear()
