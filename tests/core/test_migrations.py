"""Migrations and models agree, and the schema round-trips up and down on both backends."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, inspect, text
from typer.testing import CliRunner

from reflectseq.cli import app
from reflectseq.db.base import Base
from reflectseq.db.block_search import autogenerate_filter, is_sqlite_search_table
from reflectseq.db.migrate import current_revision, downgrade, head_revision, upgrade
from reflectseq.db.scratch import scratch_database
from tests.conftest import DEFAULT_TEST_DATABASE_URL, scratch_prefix


@pytest.fixture
def empty_pg_url() -> Iterator[str]:
    """An empty (never migrated) Postgres database, dropped afterwards."""
    base = os.environ.get("REFLECTSEQ_TEST_DATABASE_URL", DEFAULT_TEST_DATABASE_URL)
    with scratch_database(base, scratch_prefix("mig"), migrate=False) as url:
        yield url


@pytest.fixture
def empty_sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'roundtrip.db'}"


@pytest.fixture(params=["postgres", "sqlite"])
def empty_url(request: pytest.FixtureRequest) -> str:
    name = "empty_pg_url" if request.param == "postgres" else "empty_sqlite_url"
    return str(request.getfixturevalue(name))


def _all_tables(url: str) -> set[str]:
    engine = create_engine(url)
    try:
        return set(inspect(engine).get_table_names()) - {"alembic_version"}
    finally:
        engine.dispose()


def _tables(url: str) -> set[str]:
    """The tables the models describe (SQLite's search index tables are not among them)."""
    return {name for name in _all_tables(url) if not is_sqlite_search_table(name)}


def test_autogenerate_finds_no_difference_on_postgres(pg_url: str) -> None:
    engine = create_engine(pg_url)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(
                connection,
                opts={
                    "compare_type": True,
                    "compare_server_default": True,
                    "include_object": autogenerate_filter("postgresql"),
                },
            )
            assert compare_metadata(context, Base.metadata) == []
    finally:
        engine.dispose()


def test_autogenerate_finds_no_difference_on_sqlite(sqlite_url: str) -> None:
    engine = create_engine(sqlite_url)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(
                connection,
                opts={"compare_type": True, "include_object": autogenerate_filter("sqlite")},
            )
            assert compare_metadata(context, Base.metadata) == []
    finally:
        engine.dispose()


def test_upgrade_then_downgrade_base_round_trips(empty_url: str) -> None:
    expected = set(Base.metadata.tables)
    upgrade(empty_url)
    assert _tables(empty_url) == expected
    assert current_revision(empty_url) == head_revision(empty_url)

    downgrade(empty_url, "base")
    assert _all_tables(empty_url) == set()
    assert current_revision(empty_url) is None

    upgrade(empty_url)
    assert _tables(empty_url) == expected


def test_cli_upgrade_and_downgrade(empty_url: str) -> None:
    runner = CliRunner()
    result = runner.invoke(app, ["db", "upgrade", "--database-url", empty_url])
    assert result.exit_code == 0, result.output
    assert f"revision {head_revision(empty_url)}" in result.output

    result = runner.invoke(app, ["db", "current", "--database-url", empty_url])
    assert result.exit_code == 0, result.output
    assert f"current: {head_revision(empty_url)}" in result.output

    result = runner.invoke(app, ["db", "downgrade", "base", "--database-url", empty_url])
    assert result.exit_code == 0, result.output
    assert "revision base" in result.output
    assert _tables(empty_url) == set()


def test_cli_upgrade_defaults_to_the_embedded_sqlite_file(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["db", "upgrade"])
    assert result.exit_code == 0, result.output
    database = tmp_path / "data" / "reflectseq.db"
    assert database.exists()
    assert _tables(f"sqlite:///{database}") == set(Base.metadata.tables)


def test_stored_endpoint_urls_become_declared_names(
    empty_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """0003: URLs a submitter chose are never kept; the operator's own URL keeps its name."""
    monkeypatch.setenv("REFLECTSEQ_LLM_BASE_URL", "http://vllm.internal:8000/v1")
    upgrade(empty_url, "0002")
    legacy = [
        ("local", None, "qwen2.5-coder-0.5b-instruct-q4_k_m"),
        ("openai", None, "gpt-4o-mini"),
        ("openai", "http://vllm.internal:8000/v1/", "gpt-4o-mini"),
        ("openai", "http://attacker:9/steal", "x"),
    ]
    engine = create_engine(empty_url)
    try:
        with engine.begin() as connection:
            for number, (backend, endpoint, model) in enumerate(legacy):
                connection.execute(
                    text(
                        "INSERT INTO generation_config (id, config_hash, backend, endpoint, model,"
                        " sampling, prompt_version, max_rounds, show_tests, created_at) VALUES"
                        " (:id, :hash, :backend, :endpoint, :model, '{}', 'v1', 2, true,"
                        " CURRENT_TIMESTAMP)"
                    ),
                    {
                        "id": number + 1,
                        "hash": f"{number:064d}",
                        "backend": backend,
                        "endpoint": endpoint,
                        "model": model,
                    },
                )
        upgrade(empty_url)
        with engine.connect() as connection:
            rows = connection.execute(
                text("SELECT endpoint, model FROM generation_config ORDER BY id")
            ).all()
    finally:
        engine.dispose()
    assert [tuple(row) for row in rows] == [
        ("local", "qwen2.5-coder-0.5b"),
        ("default", "gpt-4o-mini"),
        ("default", "gpt-4o-mini"),
        ("undeclared", "x"),
    ]
