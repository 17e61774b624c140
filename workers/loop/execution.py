"""From a code block to a sandbox run and back to an execution block.

The program run for a task that brings tests is the solution followed by the tests (MultiPL-E
style), assembled by the sandbox under the language's rules; without tests the model's own asserts
are inside its code. The execution block keeps the sandbox's evidence field by field (the program
that ran among them), and its ``content`` is the feedback the model is shown.
"""

from __future__ import annotations

from collections.abc import Callable

from reflectseq.enums import BlockKind, ExecutionStatus
from reflectseq.sandbox.models import ExecutionRequest, ExecutionResult
from reflectseq.specs import BlockSpec
from workers.prompts import PromptSet, TaskView

Execute = Callable[[ExecutionRequest], ExecutionResult]

FEEDBACK_OUTPUT_CHARS = 4_000
# The model cannot fix these: they are about the machine, not about the program.
INFRASTRUCTURE_STATUSES = frozenset(
    {ExecutionStatus.SANDBOX_ERROR, ExecutionStatus.TOOLCHAIN_UNAVAILABLE}
)


class ExecutionUnavailable(RuntimeError):
    """The sandbox could not judge the program at all (missing toolchain, sandbox failure)."""


def _shown_output(result: ExecutionResult) -> str:
    """Compiler and program output as the model sees it, head and tail if long."""
    pieces: list[str] = []
    for step in (result.compile, result.run):
        if step is not None:
            pieces.extend(text for text in (step.stdout, step.stderr) if text.strip())
    text = "\n".join(piece.rstrip() for piece in pieces)
    if len(text) <= FEEDBACK_OUTPUT_CHARS:
        return text
    half = FEEDBACK_OUTPUT_CHARS // 2
    return f"{text[:half]}\n... [{len(text) - 2 * half} characters omitted] ...\n{text[-half:]}"


def run_block(execute: Execute, *, language: str, code: str, tests: str | None) -> ExecutionResult:
    """Run a code block (plus tests); ``ExecutionUnavailable`` when no verdict is possible."""
    result = execute(ExecutionRequest(language=language, code=code, tests=tests))
    if result.status in INFRASTRUCTURE_STATUSES:
        detail = f": {result.message}" if result.message else ""
        raise ExecutionUnavailable(
            f"sandbox could not run {language} code ({result.status}){detail}"
        )
    return result


def execution_block(prompts: PromptSet, task: TaskView, result: ExecutionResult) -> BlockSpec:
    """The stored execution block: sandbox fields plus the rendered feedback as content."""
    main = result.run or result.compile
    truncated = any(step is not None and step.truncated for step in (result.compile, result.run))
    if result.run is None and result.compile is not None:
        stdout, stderr = result.compile.stdout, result.compile.stderr
    else:
        stdout = main.stdout if main else ""
        stderr = main.stderr if main else ""
    content = prompts.render(
        "execution_feedback",
        task,
        status=str(result.status),
        exit_code=main.exit_code if main else None,
        output=_shown_output(result),
        truncated=truncated,
    )
    return BlockSpec(
        kind=BlockKind.EXECUTION,
        content=content,
        execution_status=result.status,
        exit_code=main.exit_code if main else None,
        stdout=stdout,
        stderr=stderr,
        compile_duration_s=result.compile.duration if result.compile else None,
        run_duration_s=result.run.duration if result.run else None,
        truncated=truncated,
        multipl_e_status=result.multipl_e_status,
        passed_with_errors=result.passed_with_errors,
        program=result.program,
    )
