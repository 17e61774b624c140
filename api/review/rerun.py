"""Re-running an edited code block in the sandbox, the way the loop ran the original.

For a task with tests, the loop executes the solution followed by the tests (MultiPL-E style,
assembled by the sandbox under the language's rules, with the end-of-tests check), so a re-run
does the same: otherwise an edit could "pass" only because nothing checked it.
"""

from __future__ import annotations

from reflectseq.db.models import Block
from reflectseq.languages import resolve_language
from reflectseq.sandbox import execute
from reflectseq.sandbox.models import ExecutionRequest, ExecutionResult


def runnable_language(block: Block) -> str | None:
    """The sandbox language of a code block (its fence tag, else the sequence's), or None.

    A model may fence output as ``text`` or ``json``: such a block can be edited, not run.
    """
    try:
        return resolve_language(block.language or block.message.sequence.language).code
    except KeyError:
        return None


def rerun(code: str, *, language: str, tests: str | None) -> ExecutionResult:
    """Execute an edited block with the language's default limits (blocks: call off-loop)."""
    code_language = resolve_language(language).code
    return execute(ExecutionRequest(language=code_language, code=code, tests=tests))
