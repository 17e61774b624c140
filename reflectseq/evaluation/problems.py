"""One benchmark problem, and how a completion becomes the program the sandbox runs.

Every benchmark reduces to the same shape: an instruction a model reads, optionally a code prompt
the answer continues (HumanEval's signature and docstring), and tests appended after the answer,
MultiPL-E style, so the sandbox judges pass or fail by the language's own rule.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Problem:
    """A task to solve and the tests that judge the answer."""

    task_id: str
    language: str
    """Code of the sandbox's language table, e.g. ``py``."""
    instruction: str
    """The task in words, as the chat and special-token templates show it."""
    tests: str
    """Source appended after the solution; it fails the program when the solution is wrong."""
    prompt_code: str = ""
    """Code the answer continues (completion-style benchmarks); empty for standalone answers."""
    entry_point: str | None = None

    def defines_entry_point(self, completion: str) -> bool:
        """True when ``completion`` is a whole solution (it defines the entry point at top level).

        Chat models answer HumanEval with the complete function rather than its body.
        """
        if not self.entry_point:
            return False
        pattern = rf"^(?:async\s+)?def\s+{re.escape(self.entry_point)}\s*\("
        return re.search(pattern, completion, flags=re.MULTILINE) is not None

    def program(self, completion: str) -> str:
        """The full source to execute: prompt, answer, tests.

        A body continues the prompt directly. A whole solution goes after the prompt: the
        prompt's function, left with only its docstring, is still valid Python, its imports and
        helper functions stay available, and the answer's definition replaces it.
        """
        if not self.prompt_code:
            solution = completion
        elif self.defines_entry_point(completion):
            solution = f"{self.prompt_code}\n{completion}"
        else:
            solution = self.prompt_code + completion
        return f"{solution}\n{self.tests}"
