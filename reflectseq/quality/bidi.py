"""Bidirectional control characters: text that displays in another order than it is read.

"Trojan Source" (CVE-2021-42574): the embedding, override and isolate controls (U+202A-U+202E,
U+2066-U+2069) are invisible, yet they reorder how the text after them is displayed, so code can
look like one program to a reviewer and be another to the compiler. Model output and submitted
instructions can carry them; records that do are flagged for export (``bidi_controls``) and the
dashboard shows every such character as a visible marker.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

BIDI_CONTROLS = re.compile("[\u202a-\u202e\u2066-\u2069]")


def count_bidi_controls(texts: Iterable[str]) -> int:
    """How many bidirectional control characters ``texts`` hold together."""
    return sum(len(BIDI_CONTROLS.findall(text)) for text in texts)
