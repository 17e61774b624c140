"""The verdict: which :class:`ExecutionStatus` a finished execution gets (pure, no I/O).

Exit code 0 is not enough to call a program passed: Racket's rackunit, Clojure's clojure.test and
Scala's runner exit 0 with failing tests, ``go test`` reports through its output and C#'s
Debug.Assert only prints. The per-language rule comes from the language table; this module applies
it after the limits (time, output, memory) that override any rule.
"""

from __future__ import annotations

import re
import signal
from collections.abc import Iterable

from reflectseq.enums import ExecutionStatus
from reflectseq.languages import PassRule
from reflectseq.sandbox.models import StepResult


def _matches(patterns: Iterable[str], *texts: str) -> bool:
    return any(re.search(p, text, re.MULTILINE) for p in patterns for text in texts)


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
) -> ExecutionStatus:
    """Classify an execution. ``out_of_memory`` comes from the cgroup's OOM counter, if any."""
    if compile_step is not None and (
        run_step is None or _matches(rule.compile_error_patterns, compile_step.stderr)
    ):
        return _judge_compile(rule, compile_step, output_exceeded, out_of_memory)
    if run_step is None:
        return ExecutionStatus.SANDBOX_ERROR
    return _judge_run(rule, run_step, output_exceeded, out_of_memory)


def _judge_compile(
    rule: PassRule, step: StepResult, output_exceeded: bool, out_of_memory: bool
) -> ExecutionStatus:
    if step.timed_out:
        return ExecutionStatus.TIMEOUT
    if output_exceeded:
        return ExecutionStatus.OUTPUT_EXCEEDED
    if out_of_memory or _matches(rule.memory_patterns, step.stderr):
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
