"""Settings defaults work embedded, and every CLI command answers --help."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from reflectseq.cli import app
from reflectseq.cli.config_cmd import reference_env
from reflectseq.settings import Settings, get_settings
from scripts.generate_docs import render_configuration, render_readme


def test_embedded_defaults_use_sqlite_in_the_data_dir(tmp_path: Path) -> None:
    settings = get_settings()
    assert settings.data_dir == tmp_path / "data"
    assert settings.database_url == f"sqlite:///{tmp_path / 'data' / 'reflectseq.db'}"
    assert settings.embedded


def test_environment_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REFLECTSEQ_DATABASE_URL", "postgresql+psycopg://u@h/db")
    monkeypatch.setenv("REFLECTSEQ_REDIS_URL", "redis://localhost:6379/0")
    settings = Settings()
    assert settings.database_url == "postgresql+psycopg://u@h/db"
    assert not settings.embedded


def test_invalid_values_name_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REFLECTSEQ_API_PORT", "not-a-port")
    with pytest.raises(ValueError, match="api_port"):
        Settings()


def _command_paths(command: object, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every command path of the tree (Typer ships its own click, so duck-type the groups)."""
    paths = [prefix]
    subcommands: dict[str, object] = getattr(command, "commands", {})
    for name, sub in subcommands.items():
        paths.extend(_command_paths(sub, (*prefix, name)))
    return paths


def test_every_command_has_help() -> None:
    root = typer.main.get_command(app)
    paths = _command_paths(root)
    assert ("db", "upgrade") in paths
    runner = CliRunner()
    for path in paths:
        result = runner.invoke(app, [*path, "--help"])
        assert result.exit_code == 0, (path, result.output)
        assert "Usage" in result.output


def test_config_show_masks_secrets_and_shows_whole_values(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REFLECTSEQ_API_KEY", "rsk_supersecret")
    monkeypatch.setenv("REFLECTSEQ_LLM_API_KEY", "sk-llm-supersecret")
    long_url = "postgresql+psycopg://reflect:dbsupersecret@" + "db" * 60 + ".internal:5432/data"
    monkeypatch.setenv("REFLECTSEQ_DATABASE_URL", long_url)
    monkeypatch.setenv("REFLECTSEQ_REDIS_URL", "redis://:redissupersecret@cache:6379/0")
    get_settings.cache_clear()
    result = CliRunner().invoke(app, ["config", "show"], env={"COLUMNS": "40"})
    assert result.exit_code == 0, result.output
    lines = dict(line.split("=", 1) for line in result.output.splitlines())
    assert lines["REFLECTSEQ_DATABASE_URL"] == long_url.replace("dbsupersecret", "********")
    assert lines["REFLECTSEQ_REDIS_URL"] == "redis://:********@cache:6379/0"
    assert lines["REFLECTSEQ_LLM_API_KEY"] == "********"
    assert "supersecret" not in result.output


def test_generated_documents_are_current() -> None:
    root = Path(__file__).resolve().parents[2]
    hint = "run: make docs"
    readme = (root / "README.md").read_text(encoding="utf-8")
    assert render_readme(readme) == readme, hint
    configuration = (root / "docs" / "configuration.md").read_text(encoding="utf-8")
    assert configuration == render_configuration(), hint
    assert (root / ".env.example").read_text(encoding="utf-8") == reference_env(), hint


def test_env_example_names_every_setting() -> None:
    lines = reference_env().splitlines()
    names = [line[2:].split("=")[0] for line in lines if line.startswith("# REFLECTSEQ_")]
    assert names == [f"REFLECTSEQ_{name.upper()}" for name in Settings.model_fields]
