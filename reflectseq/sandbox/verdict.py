"""The verdict: which :class:`ExecutionStatus` a finished execution gets (pure, no I/O).

Exit code 0 is not enough to call a program passed: Racket's rackunit, Clojure's clojure.test and
Scala's runner exit 0 with failing tests, ``go test`` reports through its output and C#'s
Debug.Assert only prints. The per-language rule comes from the language table; this module applies
it after the limits (time, output, memory) that override any rule. ``judge`` is MultiPL-E's
verdict; ``seal`` adds the end-of-tests check and the errors-on-stderr flag on top of it.
"""

from __future__ import annotations

import re
import secrets
import signal
from collections.abc import Iterable

from reflectseq.enums import ExecutionStatus
from reflectseq.languages import PassRule
from reflectseq.sandbox.models import ExecutionResult, StepResult

STDERR_ERROR_CHARS = 300


def _matches(patterns: Iterable[str], *texts: str) -> bool:
    return any(re.search(p, text, re.MULTILINE) for p in patterns for text in texts)


# A compiler's diagnostic quotes the source line it is about, after a line-number gutter (g++ and
# rustc ``  12 |     code``).
_GUTTER = re.compile(r"^\s*\d*\s*\|")


def _compiler_reports(patterns: Iterable[str], output: str, source: str) -> bool:
    """True when a line of the compiler's ``output`` matches, other than a quotation of the
    program: a compile error on ``catch (std::bad_alloc&)`` quotes that line, and the program
    did not run out of memory."""
    for line in output.splitlines():
        quoted = _GUTTER.sub("", line).strip()
        if quoted and quoted in source:
            continue
        if _matches(patterns, line):
            return True
    return False


def rule_accepts(rule: PassRule, run: StepResult) -> bool:
    """True when a run that ended by itself satisfies the language's pass rule."""
    if run.signal is not None or run.exit_code != rule.exit_code:
        return False
    if rule.stderr_must_be_empty and run.stderr.strip():
        return False
    if _matches(rule.failure_patterns, run.stdout, run.stderr):
        return False
    return all(re.search(p, run.stdout, re.MULTILINE) for p in rule.success_patterns)


def judge(
    rule: PassRule,
    compile_step: StepResult | None,
    run_step: StepResult | None,
    *,
    output_exceeded: bool = False,
    out_of_memory: bool = False,
    source: str = "",
) -> ExecutionStatus:
    """Classify an execution. ``out_of_memory`` comes from the cgroup's OOM counter, if any;
    ``source`` is the program's text, which compiler diagnostics may quote."""
    if compile_step is not None and (
        run_step is None or _matches(rule.compile_error_patterns, compile_step.stderr)
    ):
        return _judge_compile(rule, compile_step, output_exceeded, out_of_memory, source)
    if run_step is None:
        return ExecutionStatus.SANDBOX_ERROR
    return _judge_run(rule, run_step, output_exceeded, out_of_memory)


def _judge_compile(
    rule: PassRule, step: StepResult, output_exceeded: bool, out_of_memory: bool, source: str
) -> ExecutionStatus:
    if step.timed_out:
        return ExecutionStatus.TIMEOUT
    if output_exceeded:
        return ExecutionStatus.OUTPUT_EXCEEDED
    if out_of_memory or _compiler_reports(rule.memory_patterns, step.stderr, source):
        return ExecutionStatus.MEMORY_EXCEEDED
    return ExecutionStatus.COMPILE_ERROR


def _judge_run(  # noqa: PLR0911 (a decision table reads best as a list of returns)
    rule: PassRule, step: StepResult, output_exceeded: bool, out_of_memory: bool
) -> ExecutionStatus:
    if step.timed_out or step.signal == signal.SIGXCPU:
        return ExecutionStatus.TIMEOUT
    if output_exceeded or step.signal == signal.SIGXFSZ:
        return ExecutionStatus.OUTPUT_EXCEEDED
    if rule_accepts(rule, step):
        return ExecutionStatus.PASSED
    if out_of_memory or _matches(rule.memory_patterns, step.stdout, step.stderr):
        return ExecutionStatus.MEMORY_EXCEEDED
    if _matches(rule.compile_error_patterns, step.stdout, step.stderr):
        return ExecutionStatus.COMPILE_ERROR
    if step.signal is not None and not _matches(rule.assertion_patterns, step.stderr):
        return ExecutionStatus.RUNTIME_ERROR
    return ExecutionStatus.FAILED


def new_sentinel() -> str:
    """A fresh end-of-tests line: random per run, so a program cannot print it in advance."""
    return f"reflectseq_end_{secrets.token_hex(16)}"


def _without_sentinel(stdout: str, sentinel: str) -> tuple[str, bool]:
    """``stdout`` without the sentinel (and the line end printed with it), and whether it was
    there. Only the sentinel goes: output the program printed without a final newline shares
    its line and is kept."""
    if sentinel not in stdout:
        return stdout, False
    return stdout.replace(f"{sentinel}\n", "").replace(sentinel, ""), True


def _stderr_error(rule: PassRule, stderr: str) -> str | None:
    for line in stderr.splitlines():
        if any(re.search(pattern, line) for pattern in rule.stderr_error_patterns):
            return line.strip()[:STDERR_ERROR_CHARS]
    return None


def seal(rule: PassRule, result: ExecutionResult, sentinel: str | None) -> ExecutionResult:
    """The final verdict: MultiPL-E's, then the end-of-tests line, then errors on stderr.

    MultiPL-E's rules trust the exit code, which a program forges with ``os._exit(0)``, an
    ``atexit`` hook or ``exit(0)`` in the function under test: the tests stop early and the run
    "passes". A run with a ``sentinel`` passes only if that line reached stdout, which happens
    after the last test. The line is removed from the stdout that is shown and stored. A passed
    run whose stderr reads as an error keeps its status but names the line (passed_with_errors).
    """
    run = result.run
    if run is None:
        return result
    stdout, seen = _without_sentinel(run.stdout, sentinel) if sentinel else (run.stdout, True)
    status, message = result.status, result.message
    if status == ExecutionStatus.PASSED and not seen:
        status = ExecutionStatus.FAILED
        message = "the tests did not run to their end: the program exited before the last test"
    return result.model_copy(
        update={
            "status": status,
            "multipl_e_status": result.status,
            "message": message,
            "run": run.model_copy(update={"stdout": stdout}),
            "stderr_error": _stderr_error(rule, run.stderr)
            if status == ExecutionStatus.PASSED
            else None,
        }
    )
