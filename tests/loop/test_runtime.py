"""The loop's own sessions: asynchronous commits on Postgres, and only there."""

from __future__ import annotations

from sqlalchemy import text

from reflectseq.db.session import session_factory_for
from workers.runtime import loop_session_factory


def test_loop_sessions_commit_asynchronously_and_others_do_not(pg_url: str) -> None:
    with loop_session_factory(pg_url)() as session:
        assert session.scalar(text("SHOW synchronous_commit")) == "off"
    with session_factory_for(pg_url)() as session:
        assert session.scalar(text("SHOW synchronous_commit")) == "on"
