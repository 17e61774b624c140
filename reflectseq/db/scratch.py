"""Throw-away Postgres databases for tests and benchmarks.

Each test process and each benchmark run gets a database of its own on the shared server, so
parallel runs never see each other's rows; it is dropped (connections included) afterwards.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from reflectseq.db.migrate import upgrade


@contextmanager
def scratch_database(server_url: str, prefix: str, *, migrate: bool = True) -> Iterator[str]:
    """Create ``<prefix>_<random>`` on the server of ``server_url``; yield its URL; drop it.

    ``server_url`` may name any database of the server: DDL runs through its ``postgres``
    maintenance database. With ``migrate`` the new database is upgraded to the newest revision.
    """
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    server = make_url(server_url)
    admin = create_engine(server.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        url = server.set(database=name).render_as_string(hide_password=False)
        if migrate:
            upgrade(url)
        yield url
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
