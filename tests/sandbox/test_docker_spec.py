"""The docker backend without an engine: its container spec, its upload command, the Dockerfiles."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from reflectseq.languages import get_language, load_languages
from reflectseq.sandbox.docker_backend import container_spec, timed, upload_command
from reflectseq.sandbox.dockerfiles import dockerfile_path, render_dockerfile
from reflectseq.sandbox.models import ExecutionRequest
from reflectseq.sandbox.plan import plan_execution


def _plan(language: str, **fields: object) -> object:
    request = ExecutionRequest(language=language, code="x", **fields)  # type: ignore[arg-type]
    return plan_execution(request, default_memory_mb=512)


def test_container_is_locked_down() -> None:
    spec = container_spec(_plan("py"), scratch_mb=64)  # type: ignore[arg-type]
    assert spec["network_mode"] == "none"
    assert spec["read_only"] is True
    assert spec["cap_drop"] == ["ALL"]
    assert spec["security_opt"] == ["no-new-privileges"]
    assert spec["user"] == "65534:65534"
    assert spec["tmpfs"]["/work"].startswith("rw,exec,nosuid,size=64m")
    assert spec["mem_limit"] == spec["memswap_limit"] == "512m"
    assert spec["pids_limit"] == get_language("py").max_processes
    assert spec["image"] == "reflectseq-sandbox-py:latest"
    assert "DATABASE_URL" not in str(spec["environment"])


def test_managed_runtimes_get_headroom_beyond_their_heap_flag() -> None:
    spec = container_spec(_plan("java", memory_mb=256), scratch_mb=64)  # type: ignore[arg-type]
    assert spec["mem_limit"] == "768m"


def test_upload_command_recreates_the_files(tmp_path: Path) -> None:
    files = {"main.py": b"print('hi')\n", "pkg/data.txt": "é".encode() * 200_000}
    argv = upload_command(files)
    assert all(len(arg) < 128 * 1024 for arg in argv)
    script = argv[2].replace("/work", str(tmp_path))
    subprocess.run(["sh", "-c", script, *argv[3:]], check=True)
    assert (tmp_path / "main.py").read_bytes() == files["main.py"]
    assert (tmp_path / "pkg/data.txt").read_bytes() == files["pkg/data.txt"]


def test_steps_run_under_a_kill_timeout() -> None:
    assert timed(["./main"], 2.5) == ["timeout", "-s", "KILL", "2.5", "./main"]


@pytest.mark.parametrize("code", list(load_languages()))
def test_committed_dockerfile_matches_the_table(code: str) -> None:
    language = get_language(code)
    assert dockerfile_path(language).read_text() == render_dockerfile(language), (
        "regenerate with `reflectseq sandbox dockerfiles`"
    )


def test_dockerfiles_pass_hadolint() -> None:
    # the dev extra installs it into the virtualenv, which need not be on PATH
    hadolint = shutil.which("hadolint") or shutil.which(
        "hadolint", path=str(Path(sys.executable).parent)
    )
    if hadolint is None:
        pytest.skip("hadolint is not installed (pip install -e '.[dev]')")
    paths = [str(dockerfile_path(language)) for language in load_languages().values()]
    done = subprocess.run([hadolint, *paths], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
