"""Line diffs between successive code blocks, so a reviewer sees exactly what each fix changed."""

from __future__ import annotations

import difflib
from dataclasses import dataclass

CONTEXT_LINES = 3


@dataclass(frozen=True)
class DiffLine:
    """One line of a unified diff; ``kind`` is ``add``, ``del``, ``hunk`` or ``same``."""

    kind: str
    text: str


def unified_diff(before: str, after: str, *, before_name: str, after_name: str) -> list[DiffLine]:
    """The unified diff of two texts as typed lines (empty when they are equal)."""
    lines = difflib.unified_diff(
        before.splitlines(),
        after.splitlines(),
        fromfile=before_name,
        tofile=after_name,
        n=CONTEXT_LINES,
        lineterm="",
    )
    typed: list[DiffLine] = []
    for line in lines:
        if line.startswith(("---", "+++")):
            continue
        if line.startswith("@@"):
            typed.append(DiffLine("hunk", line))
        elif line.startswith("+"):
            typed.append(DiffLine("add", line))
        elif line.startswith("-"):
            typed.append(DiffLine("del", line))
        else:
            typed.append(DiffLine("same", line))
    return typed
