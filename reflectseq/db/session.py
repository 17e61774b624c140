"""Engines and sessions for Postgres (deployments) and SQLite (the embedded default)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

SQLITE_BUSY_TIMEOUT_S = 30


def _configure_sqlite(dbapi_connection: Any, _record: Any) -> None:
    """Enforce foreign keys and let concurrent writers wait instead of failing at once.

    WAL lets readers (the progress bar, an export) run beside the embedded worker pool.
    """
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def make_engine(
    url: str, *, echo: bool = False, pre_ping: bool = True, autocommit: bool = False
) -> Engine:
    """Create an engine with the settings each backend needs.

    ``pre_ping`` checks a pooled Postgres connection with a round trip before handing it out;
    hot single-statement reads turn it off (that round trip costs as much as their statement)
    and let a connection the server dropped fail one request, after which the pool is renewed.
    ``autocommit`` puts every connection of the pool in autocommit once, when it is opened (an
    engine's ``execution_options`` would switch it at every checkout and back at every return).
    """
    options: dict[str, Any] = {"isolation_level": "AUTOCOMMIT"} if autocommit else {}
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url, echo=echo, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_S}, **options
        )
        event.listen(engine, "connect", _configure_sqlite)
        return engine
    return create_engine(url, echo=echo, pool_pre_ping=pre_ping, **options)


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions that keep loaded objects usable after commit (handy for returning results)."""
    return sessionmaker(bind=engine, expire_on_commit=False)


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One unit of work: commit on success, roll back everything on any exception."""
    session = factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


@lru_cache(maxsize=8)
def engine_for(url: str, *, echo: bool = False) -> Engine:
    """One engine (and pool) per URL per process."""
    return make_engine(url, echo=echo)


@lru_cache(maxsize=8)
def read_engine_for(url: str) -> Engine:
    """One engine per URL per process for reads of one statement: autocommit (no BEGIN and
    COMMIT round trips) and no liveness ping."""
    return make_engine(url, pre_ping=False, autocommit=True)


def session_factory_for(url: str) -> sessionmaker[Session]:
    """A session factory bound to the process-wide engine for ``url``."""
    return make_session_factory(engine_for(url))
