"""Every language of the table, for real: passing tests, failing tests, a compile error, a hang."""

from __future__ import annotations

import pytest

from reflectseq.enums import ExecutionStatus
from reflectseq.languages import get_language, language_codes
from reflectseq.sandbox import ExecutionRequest, execute
from reflectseq.sandbox.local import missing_toolchain
from tests.sandbox.programs import LOCAL, PROGRAMS, failing, marked_slow, passing

DOCKER_ONLY = [code for code in language_codes() if not get_language(code).debian_packages]
HANG_TIMEOUT = 2.0


def test_every_language_has_programs() -> None:
    assert set(PROGRAMS) == set(language_codes())


@pytest.mark.parametrize("code", marked_slow(LOCAL))
def test_passing_tests_pass(code: str) -> None:
    result = execute(ExecutionRequest(language=code, code=passing(code)))
    assert result.status == ExecutionStatus.PASSED, result


@pytest.mark.parametrize("code", marked_slow(LOCAL))
def test_failing_tests_fail(code: str) -> None:
    result = execute(ExecutionRequest(language=code, code=failing(code)))
    assert result.status == ExecutionStatus.FAILED, result
    assert result.run is not None


@pytest.mark.parametrize("code", marked_slow(LOCAL))
def test_broken_program_is_a_compile_error(code: str) -> None:
    result = execute(ExecutionRequest(language=code, code=PROGRAMS[code].compile_error))
    assert result.status == ExecutionStatus.COMPILE_ERROR, result


@pytest.mark.parametrize("code", marked_slow(LOCAL))
def test_endless_program_times_out(code: str) -> None:
    result = execute(
        ExecutionRequest(language=code, code=PROGRAMS[code].endless, run_timeout=HANG_TIMEOUT)
    )
    assert result.status == ExecutionStatus.TIMEOUT, result
    assert result.run is not None and result.run.timed_out
    # killed at the deadline, not at some later point (the drain after the kill is short)
    assert result.run.duration < HANG_TIMEOUT + 3


@pytest.mark.parametrize("code", DOCKER_ONLY)
def test_docker_only_languages_report_unavailable_toolchain(code: str) -> None:
    if not missing_toolchain(get_language(code)):
        pytest.skip(f"{code} happens to be installed on this host")
    result = execute(ExecutionRequest(language=code, code=passing(code)))
    assert result.status == ExecutionStatus.TOOLCHAIN_UNAVAILABLE
    assert result.message and "docker" in result.message


def test_stdin_reaches_the_program() -> None:
    code = "import sys\nassert sys.stdin.read() == 'forty two\\n'\n"
    result = execute(ExecutionRequest(language="python", code=code, stdin="forty two\n"))
    assert result.status == ExecutionStatus.PASSED, result


def test_extra_files_sit_beside_the_program() -> None:
    code = "from helpers.numbers import answer\nassert answer() == 42\n"
    files = {"helpers/__init__.py": "", "helpers/numbers.py": "def answer():\n    return 42\n"}
    result = execute(ExecutionRequest(language="py", code=code, files=files))
    assert result.status == ExecutionStatus.PASSED, result


def test_uncaught_signal_is_a_runtime_error() -> None:
    code = "import os, signal\nos.kill(os.getpid(), signal.SIGSEGV)\n"
    result = execute(ExecutionRequest(language="py", code=code))
    assert result.status == ExecutionStatus.RUNTIME_ERROR, result
    assert result.run is not None and result.run.signal == 11
