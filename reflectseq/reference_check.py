"""Running a task's reference solution against its tests before the task is accepted.

Tests that cannot pass (a wrong expected value, a suite that does not compile with a
reference-style answer) fail every sequence of the task however good the model is, and the
failure looks like the model's. When the submitter gives a ``solution``, it runs once in the
sandbox against the tests, assembled as the loop assembles answers; a failure refuses the task.
"""

from __future__ import annotations

import logging

from reflectseq.enums import ExecutionStatus
from reflectseq.sandbox import ExecutionRequest, ExecutionResult, execute
from reflectseq.specs import InstructionSpec

log = logging.getLogger(__name__)

EVIDENCE_CHARS = 400
# Statuses about the host, not the task: the check is skipped, not failed.
UNCHECKABLE = frozenset({ExecutionStatus.SANDBOX_ERROR, ExecutionStatus.TOOLCHAIN_UNAVAILABLE})


def _evidence(result: ExecutionResult) -> str:
    """The end of what the failing run printed, or why it failed."""
    for step in (result.run, result.compile):
        if step is not None:
            for text in (step.stderr, step.stdout):
                if text.strip():
                    return " ".join(text.strip()[-EVIDENCE_CHARS:].split())
    return result.message or "no output"


def solution_problem(spec: InstructionSpec, language: str) -> str | None:
    """Why ``spec``'s reference solution fails its tests; ``None`` when it passes or has none.

    ``language`` is the table's code. A host that cannot run the language cannot judge: the
    task is accepted and the skipped check is logged.
    """
    if spec.solution is None or not (spec.tests or "").strip():
        return None
    result = execute(ExecutionRequest(language=language, code=spec.solution, tests=spec.tests))
    if result.status in UNCHECKABLE:
        log.warning("reference solution not checked (%s): %s", result.status, result.message)
        return None
    if result.passed:
        return None
    return f"the reference solution does not pass the tests ({result.status}): {_evidence(result)}"
