"""The language table and the verdict rules, without running anything."""

from __future__ import annotations

import pytest

from reflectseq.enums import ExecutionStatus
from reflectseq.languages import get_language, language_codes, resolve_language
from reflectseq.sandbox.capture import BoundedCapture
from reflectseq.sandbox.models import ExecutionResult, StepResult
from reflectseq.sandbox.verdict import judge, new_sentinel, seal

MULTIPL_E = "cpp cs d go java jl js lua php pl py r rb rkt rs scala sh swift ts ml hs elixir clj"


def test_table_covers_multipl_e() -> None:
    assert sorted(language_codes()) == sorted(MULTIPL_E.split())


@pytest.mark.parametrize(
    ("alias", "code"),
    [("python", "py"), ("JavaScript", "js"), ("typescript", "ts"), ("rust", "rs"),
     ("ruby", "rb"), ("csharp", "cs"), ("racket", "rkt"), ("bash", "sh"), ("ocaml", "ml"),
     ("haskell", "hs"), ("clojure", "clj"), ("julia", "jl"), ("cpp", "cpp")],
)  # fmt: skip
def test_aliases_resolve(alias: str, code: str) -> None:
    assert resolve_language(alias).code == code


def test_unknown_language_names_the_known_ones() -> None:
    with pytest.raises(KeyError, match="known codes: cpp"):
        get_language("cobol")
    with pytest.raises(KeyError, match="unknown language 'cobol'"):
        resolve_language("cobol")


def run(exit_code: int = 0, stdout: str = "", stderr: str = "", **extra: object) -> StepResult:
    return StepResult(exit_code=exit_code, stdout=stdout, stderr=stderr, **extra)  # type: ignore[arg-type]


def status(code: str, step: StepResult, compile_step: StepResult | None = None) -> ExecutionStatus:
    return judge(get_language(code).pass_rule, compile_step, step)


def test_racket_failure_on_stderr_with_exit_zero_fails() -> None:
    assert status("rkt", run(0, stderr="FAILURE\nname: check-equal?")) == ExecutionStatus.FAILED
    assert status("rkt", run(0)) == ExecutionStatus.PASSED


def test_clojure_needs_its_summary() -> None:
    ok = "Ran 1 tests containing 1 assertions.\n0 failures, 0 errors.\n"
    bad = "FAIL in (test-humaneval)\nRan 1 tests containing 1 assertions.\n1 failures, 0 errors.\n"
    assert status("clj", run(0, stdout=ok)) == ExecutionStatus.PASSED
    assert status("clj", run(0, stdout=bad)) == ExecutionStatus.FAILED
    assert status("clj", run(0, stdout="")) == ExecutionStatus.FAILED


def test_go_failures_and_build_errors() -> None:
    assert status("go", run(0, stdout="ok  \tcommand-line-arguments")) == ExecutionStatus.PASSED
    assert status("go", run(1, stdout="--- FAIL: TestAdd\nFAIL")) == ExecutionStatus.FAILED
    built = run(1, stdout="FAIL\tcommand-line-arguments [build failed]")
    assert status("go", built) == ExecutionStatus.COMPILE_ERROR


def test_csharp_trace_listener_output_fails_with_exit_zero() -> None:
    text = "---- DEBUG ASSERTION FAILED ----\n---- Assert Short Message ----"
    assert status("cs", run(0, stderr=text)) == ExecutionStatus.FAILED


def test_scala_stderr_must_be_empty() -> None:
    assert status("scala", run(0, stderr="java.lang.AssertionError")) == ExecutionStatus.FAILED


def test_perl_error_marker_fails() -> None:
    assert status("pl", run(0, stdout="ERROR: mismatch")) == ExecutionStatus.FAILED


def test_limits_override_the_rule() -> None:
    assert status("py", run(0, timed_out=True)) == ExecutionStatus.TIMEOUT
    assert status("py", run(1, stderr="MemoryError")) == ExecutionStatus.MEMORY_EXCEEDED
    assert status("py", run(1, stderr="SyntaxError: bad")) == ExecutionStatus.COMPILE_ERROR
    flooded = judge(get_language("py").pass_rule, None, run(0), output_exceeded=True)
    assert flooded == ExecutionStatus.OUTPUT_EXCEEDED


def test_compile_failures() -> None:
    rule = get_language("cpp").pass_rule
    assert judge(rule, run(1, stderr="error"), None) == ExecutionStatus.COMPILE_ERROR
    assert judge(rule, run(None, timed_out=True), None) == ExecutionStatus.TIMEOUT  # type: ignore[arg-type]
    bash = get_language("sh").pass_rule
    noisy = run(0, stderr="main.sh: line 3: syntax error near unexpected token")
    assert judge(bash, noisy, run(0)) == ExecutionStatus.COMPILE_ERROR


def test_capture_keeps_head_and_tail() -> None:
    capture = BoundedCapture(10)
    for chunk in (b"HEAD-", b"middle" * 100, b"-TAIL"):
        capture.feed(chunk)
    text = capture.text()
    assert capture.truncated and capture.total == 610
    assert text.startswith("HEAD-") and text.endswith("-TAIL")
    assert "[600 bytes omitted]" in text


def test_capture_replaces_what_a_database_cannot_store() -> None:
    capture = BoundedCapture(100)
    capture.feed(b"a\x00b \xff c")
    assert capture.text() == "a\ufffdb \ufffd c"


def sealed(
    step: StepResult, sentinel: str | None, code: str = "py", verdict: ExecutionStatus | None = None
) -> ExecutionResult:
    rule = get_language(code).pass_rule
    judged = ExecutionResult(status=verdict or judge(rule, None, step), run=step)
    return seal(rule, judged, sentinel)


def test_sentinels_are_fresh_per_run() -> None:
    assert new_sentinel() != new_sentinel()


def test_pass_needs_the_sentinel_on_stdout_which_is_then_removed() -> None:
    line = new_sentinel()
    result = sealed(run(stdout=f"5\n{line}\n"), line)
    assert result.status == ExecutionStatus.PASSED
    assert result.run is not None and result.run.stdout == "5\n"


def test_exit_zero_without_the_sentinel_is_a_failure_for_us_and_a_pass_for_multipl_e() -> None:
    result = sealed(run(stdout="5\n", stderr="AssertionError\n"), new_sentinel())
    assert result.status == ExecutionStatus.FAILED
    assert result.multipl_e_status == ExecutionStatus.PASSED
    assert result.message and "did not run to their end" in result.message


def test_a_guessed_sentinel_does_not_count() -> None:
    result = sealed(run(stdout="reflectseq_end_0000\n"), new_sentinel())
    assert result.status == ExecutionStatus.FAILED


def test_without_a_sentinel_the_multipl_e_verdict_stands() -> None:
    result = sealed(run(stdout="ok\n"), None)
    assert result.status == result.multipl_e_status == ExecutionStatus.PASSED
    failed = sealed(run(exit_code=1), new_sentinel())
    assert failed.status == failed.multipl_e_status == ExecutionStatus.FAILED


def test_error_on_stderr_of_a_pass_is_named() -> None:
    line = new_sentinel()
    stderr = 'main.sh: line 3: [[: 2 x: syntax error in expression (error token is "x")\n'
    result = sealed(run(stdout=line + "\n", stderr=stderr), line, code="sh")
    assert result.status == ExecutionStatus.PASSED and result.passed_with_errors
    assert result.stderr_error == stderr.strip()
    failed = sealed(run(exit_code=1, stderr=stderr), line, code="sh")
    assert not failed.passed_with_errors and failed.stderr_error is None


@pytest.mark.parametrize(
    ("code", "stderr", "flagged"),
    [
        ("py", "Traceback (most recent call last):\n  File ...\nZeroDivisionError\n", True),
        ("py", "main.py:3: DeprecationWarning: old\n", False),
        ("sh", "cat: x.txt: No such file or directory\n", True),
        ("sh", "main.sh: line 4: foo: command not found\n", True),
        ("js", "Error: boom\n    at add (/work/main.js:2:9)\n", True),
        ("js", "(node:12) ExperimentalWarning: x\n", False),
        ("php", "PHP Warning:  Undefined variable $x in main.php on line 3\n", True),
        ("cpp", "", False),
    ],
)
def test_stderr_error_patterns(code: str, stderr: str, flagged: bool) -> None:
    line = new_sentinel()
    result = sealed(
        run(stdout=line, stderr=stderr), line, code=code, verdict=ExecutionStatus.PASSED
    )
    assert result.passed_with_errors is flagged


def test_a_compile_error_quoting_an_out_of_memory_name_is_a_compile_error() -> None:
    """g++ quotes the line it rejects; a ``catch (std::bad_alloc&)`` there is not an OOM."""
    source = "int f() {\n    try { g(); } catch (const std::bad_alloc& e) { return 1 }\n}\n"
    compile_step = run(
        1,
        stderr=(
            "main.cpp:2:60: error: expected ';' before '}' token\n"
            "    2 |     try { g(); } catch (const std::bad_alloc& e) { return 1 }\n"
        ),
    )
    rule = get_language("cpp").pass_rule
    verdict = judge(rule, compile_step, None, source=source)
    assert verdict == ExecutionStatus.COMPILE_ERROR


def test_a_compiler_out_of_its_memory_is_memory_exceeded() -> None:
    compile_step = run(1, stderr="cc1plus: out of memory allocating 65536 bytes\n")
    verdict = judge(get_language("cpp").pass_rule, compile_step, None, source="int main() {}\n")
    assert verdict == ExecutionStatus.MEMORY_EXCEEDED
