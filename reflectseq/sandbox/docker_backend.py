"""The docker backend: the same language table, run in per-language images (docker SDK).

Each execution gets a fresh container: no network, a read-only root, a size-capped tmpfs as
/work, memory and pids limits, no new privileges, every capability dropped, an unprivileged user.
The container's main process only sleeps; the files are unpacked into the tmpfs and each step runs
as an exec with a ``timeout`` in front, so compile and run keep separate outputs and budgets.
The container is removed in every case. At most ``slots`` containers of a process run at once:
its hundreds of sequence threads wait for a slot rather than start a container each.

There is no Docker engine on the development machines: the container spec and the upload command
are pure functions, tested there; the engine round trip is exercised where an engine exists.
"""

from __future__ import annotations

import base64
import io
import math
import tarfile
import threading
import time
from typing import Any

import docker
from docker.errors import DockerException, ImageNotFound

from reflectseq.enums import ExecutionStatus
from reflectseq.sandbox.capture import BoundedCapture
from reflectseq.sandbox.models import ExecutionResult, StepResult
from reflectseq.sandbox.plan import ExecutionPlan
from reflectseq.sandbox.supervisor import OutputLimits
from reflectseq.sandbox.verdict import judge

WORK_DIR = "/work"
SANDBOX_USER = "65534:65534"
ARG_CHUNK = 96 * 1024  # below the kernel's 128 KiB limit on one argument
CONTAINER_HEADROOM_MB = 512
KILLED_BY_TIMEOUT = 137
SLEEP_SLACK_SECONDS = 30
MIB = 1024 * 1024


def container_spec(plan: ExecutionPlan, *, scratch_mb: int) -> dict[str, Any]:
    """Keyword arguments of ``containers.run`` for one execution (pure)."""
    lifetime = math.ceil(plan.compile_timeout + plan.run_timeout) + SLEEP_SLACK_SECONDS
    headroom = 0 if plan.language.memory_policy == "address_space" else CONTAINER_HEADROOM_MB
    memory = f"{plan.memory_mb + headroom}m"
    return {
        "image": plan.language.docker_image,
        "command": ["sleep", str(lifetime)],
        "detach": True,
        "init": True,
        "network_mode": "none",
        "read_only": True,
        "tmpfs": {
            WORK_DIR: f"rw,exec,nosuid,size={scratch_mb}m,mode=1777",
            "/tmp": f"rw,exec,nosuid,size={scratch_mb}m,mode=1777",
        },
        "shm_size": f"{scratch_mb}m",
        "working_dir": WORK_DIR,
        "user": SANDBOX_USER,
        "environment": dict(plan.env),
        "mem_limit": memory,
        "memswap_limit": memory,
        "pids_limit": plan.language.max_processes,
        "cap_drop": ["ALL"],
        "security_opt": ["no-new-privileges"],
        "ulimits": [
            {"Name": "core", "Soft": 0, "Hard": 0},
            {"Name": "fsize", "Soft": scratch_mb * MIB, "Hard": scratch_mb * MIB},
        ],
        "labels": {"org.reflectseq.sandbox": plan.language.code},
    }


def upload_command(files: dict[str, bytes]) -> list[str]:
    """A command that unpacks ``files`` into the work dir, carried in its own arguments.

    ``docker cp`` cannot write into a tmpfs of a read-only container, so the files travel as a
    base64 tar split over arguments (each below the kernel's per-argument limit).
    """
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        for name, data in sorted(files.items()):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o644
            archive.addfile(info, io.BytesIO(data))
    encoded = base64.b64encode(buffer.getvalue()).decode()
    chunks = [encoded[i : i + ARG_CHUNK] for i in range(0, len(encoded), ARG_CHUNK)]
    script = f'printf %s "$@" | base64 -d | tar -x -C {WORK_DIR}'
    return ["sh", "-c", script, "upload", *chunks]


def timed(argv: list[str], seconds: float) -> list[str]:
    """``argv`` under coreutils' timeout, which SIGKILLs it at the deadline."""
    return ["timeout", "-s", "KILL", f"{seconds:g}", *argv]


class DockerBackend:
    """Runs plans in per-language containers through the local Docker engine."""

    def __init__(self, *, scratch_mb: int, limits: OutputLimits, slots: int = 1) -> None:
        self.scratch_mb = scratch_mb
        self.limits = limits
        self._slots = threading.BoundedSemaphore(slots)

    def execute(self, plan: ExecutionPlan) -> ExecutionResult:
        """Run one plan in a fresh container and judge it (once a slot is free)."""
        with self._slots:
            return self._execute(plan)

    def _execute(self, plan: ExecutionPlan) -> ExecutionResult:
        try:
            client = docker.from_env()
            container = client.containers.run(**container_spec(plan, scratch_mb=self.scratch_mb))
        except ImageNotFound:
            return ExecutionResult(
                status=ExecutionStatus.TOOLCHAIN_UNAVAILABLE,
                message=f"image {plan.language.docker_image} is not built: "
                f"docker build -t {plan.language.docker_image} sandbox_images/{plan.language.code}",
            )
        except DockerException as exc:
            return ExecutionResult(status=ExecutionStatus.SANDBOX_ERROR, message=str(exc))
        try:
            return self._steps(client, container.id, plan)
        except DockerException as exc:
            return ExecutionResult(status=ExecutionStatus.SANDBOX_ERROR, message=str(exc))
        finally:
            container.remove(force=True)

    def _steps(self, client: Any, container_id: str, plan: ExecutionPlan) -> ExecutionResult:
        upload, _ = self._exec(client, container_id, upload_command(plan.files), 60.0)
        if upload.exit_code != 0:
            return ExecutionResult(status=ExecutionStatus.SANDBOX_ERROR, message=upload.stderr)
        compile_step = flooded = None
        if plan.compile is not None:
            compile_step, flooded = self._exec(
                client, container_id, plan.compile, plan.compile_timeout
            )
            if compile_step.exit_code != 0 or flooded:
                return _judged(plan, compile_step, None, flooded)
        run_step, flooded = self._exec(client, container_id, plan.run, plan.run_timeout)
        return _judged(plan, compile_step, run_step, flooded)

    def _exec(
        self, client: Any, container_id: str, argv: list[str], seconds: float
    ) -> tuple[StepResult, bool]:
        api = client.api
        exec_id = api.exec_create(container_id, timed(argv, seconds), workdir=WORK_DIR)["Id"]
        stdout, stderr = (
            BoundedCapture(self.limits.capture_bytes),
            BoundedCapture(self.limits.capture_bytes),
        )
        started = time.monotonic()
        flooded = False
        for out, err in api.exec_start(exec_id, stream=True, demux=True):
            stdout.feed(out or b"")
            stderr.feed(err or b"")
            if max(stdout.total, stderr.total) > self.limits.flood_bytes:
                flooded = True
                api.kill(container_id)
                break
        duration = time.monotonic() - started
        exit_code = api.exec_inspect(exec_id).get("ExitCode")
        timed_out = exit_code == KILLED_BY_TIMEOUT and duration >= seconds
        step = StepResult(
            exit_code=None if timed_out else exit_code,
            signal=exit_code - 128 if exit_code and exit_code > 128 else None,
            stdout=stdout.text(),
            stderr=stderr.text(),
            duration=round(duration, 4),
            truncated=stdout.truncated or stderr.truncated,
            timed_out=timed_out,
        )
        return step, flooded


def _judged(
    plan: ExecutionPlan, compile_step: StepResult | None, run_step: StepResult | None, flooded: bool
) -> ExecutionResult:
    status = judge(
        plan.language.pass_rule,
        compile_step,
        run_step,
        output_exceeded=flooded,
        source=plan.source,
    )
    return ExecutionResult(status=status, compile=compile_step, run=run_step)
