"""A sandbox that cannot be set up is a ``sandbox_error`` that says why, not a failed program."""

from __future__ import annotations

import dataclasses

import pytest
from pydantic import ValidationError

from reflectseq.enums import ExecutionStatus
from reflectseq.sandbox import ExecutionRequest, build_backend, execute
from reflectseq.sandbox import local as local_backend
from reflectseq.sandbox.local import LocalBackend
from reflectseq.sandbox.plan import plan_execution
from reflectseq.settings import MAX_SANDBOX_UID, Settings, get_settings

PROGRAM = ExecutionRequest(language="py", code="print('hello')\n")


def test_slot_uids_bwrap_cannot_map_are_refused_at_start(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REFLECTSEQ_SANDBOX_UID_BASE", str(MAX_SANDBOX_UID - 1))
    monkeypatch.setenv("REFLECTSEQ_SANDBOX_CONCURRENCY", "4")
    with pytest.raises(ValidationError, match="sandbox_uid_base"):
        get_settings()
    monkeypatch.setenv("REFLECTSEQ_SANDBOX_UID_BASE", str(2**31))
    with pytest.raises(ValidationError, match="sandbox_uid_base"):
        get_settings()


def test_a_uid_bwrap_cannot_map_is_a_sandbox_error() -> None:
    backend = build_backend(Settings())
    assert isinstance(backend, LocalBackend)
    if not backend.as_root:
        pytest.skip("slot uids are used only when running as root")
    backend = LocalBackend(dataclasses.replace(backend.config, uid_base=2**31, slots=1))
    result = backend.execute(plan_execution(PROGRAM, default_memory_mb=256))
    assert result.status == ExecutionStatus.SANDBOX_ERROR, result
    assert result.message is not None and "uid map" in result.message


def test_a_mount_bwrap_cannot_make_is_a_sandbox_error(monkeypatch: pytest.MonkeyPatch) -> None:
    real_argv = local_backend.bwrap_argv

    def with_missing_source(*args: object, **kwargs: object) -> list[str]:
        argv = real_argv(*args, **kwargs)  # type: ignore[arg-type]
        return [argv[0], "--ro-bind", "/nonexistent-reflectseq-source", "/x", *argv[1:]]

    monkeypatch.setattr(local_backend, "bwrap_argv", with_missing_source)
    result = execute(PROGRAM)
    assert result.status == ExecutionStatus.SANDBOX_ERROR, result
    assert result.message is not None and "/nonexistent-reflectseq-source" in result.message
