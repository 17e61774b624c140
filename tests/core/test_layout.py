"""The core depends on nothing above it: no module of ``reflectseq`` imports ``workers`` or
``api``, not even inside a function or under ``TYPE_CHECKING`` (an import graph sees those too).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

CORE = Path(__file__).resolve().parents[2] / "reflectseq"
ABOVE_THE_CORE = ("workers", "api")


def _imports(path: Path) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
    return found


def test_the_core_imports_nothing_above_it() -> None:
    upward = [
        f"{path.relative_to(CORE.parent)}:{line}: {module}"
        for path in sorted(CORE.rglob("*.py"))
        for line, module in _imports(path)
        if module.split(".")[0] in ABOVE_THE_CORE
    ]
    assert upward == []


@pytest.mark.parametrize("command", ["serve", "run", "worker"])
def test_the_service_commands_still_join_the_command_line(command: str) -> None:
    from typer.main import get_command

    from reflectseq.cli import app

    assert command in get_command(app).commands  # type: ignore[attr-defined]
