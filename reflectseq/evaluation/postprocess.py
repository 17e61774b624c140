"""From a model's raw answer to the code that gets executed.

Three steps, each small and predictable: cut at the first stop sequence (special tokens, or the
"next top-level statement" markers of completion-style prompting), take the code out of the
markdown fence in the language asked for, and, for Python, drop the test harness models like to
append (``if __name__ ...``, bare asserts, prints), which would otherwise fail correct solutions
or pass on their own. A completion without any fence is taken as code.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from reflectseq.format import SPECIAL_TOKENS

# A fence opens with three or more backticks, an optional tag, then a newline.
_FENCE_OPEN = re.compile(r"^[ \t]*(`{3,})[ \t]*([\w+#.-]*)[^\n]*\n", re.MULTILINE)
# What chat models append after a Python solution; the reference ReflectionCoder evaluation cuts
# at the same markers.
PYTHON_TRAILERS = ("\n# Test", "\n# Example", "\nif __name__", "\nassert ", "\nprint(")


def truncate_at_stops(text: str, stops: Iterable[str]) -> str:
    """``text`` up to the earliest occurrence of any stop sequence."""
    end = len(text)
    for stop in stops:
        if stop:
            index = text.find(stop)
            if index != -1:
                end = min(end, index)
    return text[:end]


def strip_special_tokens(text: str) -> str:
    """Remove reflectseq's special tokens a completion may still carry."""
    for token in SPECIAL_TOKENS:
        text = text.replace(token, "")
    return text


def extract_code(text: str, tags: Iterable[str]) -> str:
    """The first fenced block tagged with one of ``tags`` (or untagged), else ``text`` itself.

    A fence left open, as when the answer was cut by the token limit, runs to the end.
    """
    wanted = {tag.lower() for tag in tags}
    fallback: str | None = None
    for opening in _FENCE_OPEN.finditer(text):
        ticks, tag = opening.group(1), opening.group(2).lower()
        body_start = opening.end()
        closing = re.compile(rf"^[ \t]*{ticks}[ \t]*$", re.MULTILINE).search(text, body_start)
        body = text[body_start : closing.start() if closing else len(text)]
        if tag in wanted:
            return body
        if not tag and fallback is None:
            fallback = body
    return fallback if fallback is not None else text


def clean_completion(
    text: str, *, language: str, tags: Iterable[str], stops: Iterable[str] = ()
) -> str:
    """Stop sequences, then fence extraction, then (for Python) the appended harness."""
    code = extract_code(strip_special_tokens(truncate_at_stops(text, stops)), tags)
    if language == "py":
        code = truncate_at_stops(code, PYTHON_TRAILERS)
    return code.rstrip() + "\n"
