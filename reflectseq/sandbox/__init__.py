"""Isolated execution of generated programs in every MultiPL-E language.

``execute`` runs one request with the backend chosen in the settings (bubblewrap on this host, or
per-language docker images) and judges it by the language's pass rule; ``execute_many`` runs a
batch under a concurrency limit. Both are safe to call from many threads and processes at once:
the host-wide concurrency limit is enforced by slots every process of the host shares
(``slots``), not by in-process state.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache
from typing import Protocol

from reflectseq.sandbox.local import LocalBackend, LocalConfig
from reflectseq.sandbox.models import ExecutionRequest, ExecutionResult, StepResult
from reflectseq.sandbox.plan import ExecutionPlan, plan_execution
from reflectseq.sandbox.supervisor import OutputLimits
from reflectseq.sandbox.verdict import seal
from reflectseq.sandbox.warm import attach_warm_pool
from reflectseq.settings import Settings, get_settings

log = logging.getLogger(__name__)

__all__ = [
    "ExecutionRequest",
    "ExecutionResult",
    "StepResult",
    "enable_warm_starts",
    "execute",
    "execute_many",
    "get_backend",
    "reset_backend",
]


class Backend(Protocol):
    """Something that runs an execution plan to a judged result."""

    def execute(self, plan: ExecutionPlan) -> ExecutionResult: ...


def build_backend(settings: Settings) -> Backend:
    """The backend the settings ask for."""
    if settings.sandbox_backend == "docker":
        # Imported here: the docker SDK (and requests) load only where that backend is chosen.
        from reflectseq.sandbox.docker_backend import DockerBackend  # noqa: PLC0415

        return DockerBackend(
            scratch_mb=settings.sandbox_scratch_mb,
            limits=output_limits(settings),
            slots=settings.sandbox_concurrency,
        )
    if settings.sandbox_lock_dir is not None:
        log.warning("REFLECTSEQ_SANDBOX_LOCK_DIR is deprecated and ignored (see docs/sandbox.md)")
    return LocalBackend(
        LocalConfig(
            scratch_mb=settings.sandbox_scratch_mb,
            capture_bytes=settings.sandbox_capture_bytes,
            output_limit_bytes=settings.sandbox_output_limit_bytes,
            uid_base=settings.sandbox_uid_base,
            slots=settings.sandbox_concurrency,
            cgroup_parent=settings.sandbox_cgroup_parent,
            memory_enforcement=settings.sandbox_memory_enforcement,
        )
    )


def enable_warm_starts() -> None:
    """Keep sandboxes started ahead of their programs in this process (``sandbox_warm_starts``).

    For processes that run many programs (workers, ``reflectseq run``): a one-off command would
    only start a sandbox that nothing uses.
    """
    per_shape = get_settings().sandbox_warm_starts
    backend = get_backend()
    if per_shape > 0 and isinstance(backend, LocalBackend):
        attach_warm_pool(backend, per_shape)


def output_limits(settings: Settings) -> OutputLimits:
    """Per-stream capture and flood limits from the settings."""
    return OutputLimits(settings.sandbox_capture_bytes, settings.sandbox_output_limit_bytes)


@lru_cache(maxsize=1)
def get_backend() -> Backend:
    """The process-wide backend (``reset_backend()`` after new settings)."""
    return build_backend(get_settings())


def reset_backend() -> None:
    """Forget the process-wide backend, ending the sandboxes it keeps waiting (warm starts).

    Dropping the backend alone would leave its warm pool's thread and sandboxes running for the
    life of the process, each holding pipes and a uid.
    """
    if get_backend.cache_info().currsize:
        backend = get_backend()
        if isinstance(backend, LocalBackend) and backend.warm is not None:
            backend.warm.close()
    get_backend.cache_clear()


def execute(request: ExecutionRequest, backend: Backend | None = None) -> ExecutionResult:
    """Run one program (code, plus tests if any) and judge it by its language's pass rule.

    ``backend`` defaults to the process-wide one (the bench compares two side by side).
    """
    plan = plan_execution(request, default_memory_mb=get_settings().sandbox_memory_mb)
    started = time.perf_counter()
    result = seal(plan.language.pass_rule, (backend or get_backend()).execute(plan), plan.sentinel)
    result = result.model_copy(update={"program": plan.program})
    _record(plan.language.code, result.status.value, time.perf_counter() - started)
    return result


def _record(language: str, status: str, seconds: float) -> None:
    """Add the execution to the Prometheus histogram, in processes that keep metrics.

    Workers and the API import ``reflectseq.metrics`` to serve their metrics; a one-off command
    (``reflectseq sandbox run``) has nobody to read them, and importing prometheus_client would
    cost its start some 25 ms.
    """
    metrics = sys.modules.get("reflectseq.metrics")
    if metrics is not None:
        metrics.SANDBOX_SECONDS.labels(language=language, status=status).observe(seconds)


def execute_many(
    requests: Sequence[ExecutionRequest], concurrency: int | None = None
) -> list[ExecutionResult]:
    """Run several programs, at most ``concurrency`` at once (default: the settings'); in order."""
    if not requests:
        return []
    workers = min(concurrency or get_settings().sandbox_concurrency, len(requests))
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="sandbox") as pool:
        return list(pool.map(execute, requests))
