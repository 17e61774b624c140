"""How big a program's output was, beside how much of it is kept.

The sandbox keeps the head and tail of a long stream and marks the cut with how many bytes it
dropped (``reflectseq.sandbox.capture``), so the original size is what is kept plus that count.
Showing only the kept length made a million-byte flood look like a modest output.
"""

from __future__ import annotations

import re

from reflectseq.sandbox.capture import OMISSION_MARKER

_MARKER = re.compile(re.escape(OMISSION_MARKER).replace(re.escape("{omitted}"), r"(\d+)"))


def describe_output(text: str | None, truncated: bool) -> str:
    """``'1,000,001 bytes, 65,568 kept'`` for a cut stream, ``'1,234 characters'`` otherwise.

    Only a stream the sandbox reported as truncated is searched for the marker, so a program
    printing a look-alike line cannot change the figure of an output that was kept whole.
    """
    text = text or ""
    match = _MARKER.search(text) if truncated else None
    if match is None:
        return f"{len(text):,} characters"
    kept = len((text[: match.start()] + text[match.end() :]).encode("utf-8"))
    return f"{kept + int(match.group(1)):,} bytes, {kept:,} kept"
