"""Bidirectional control characters made visible on the dashboard's pages.

Browsers apply these characters silently, so a reviewer would read reordered code (Trojan
Source). Like code hosts do, each one is replaced by a marker such as ``<U+202E>`` in a warning
style, which shows that it is there and stops it from reordering the rest of the line.
"""

from __future__ import annotations

import re

from markupsafe import Markup, escape

from reflectseq.quality.bidi import BIDI_CONTROLS

MARKER_CLASS = "bidi"
_TITLE = "Bidirectional control character: it can make text display in another order"


def _marker(match: re.Match[str]) -> str:
    return (
        f'<span class="{MARKER_CLASS}" title="{_TITLE}">&lt;U+{ord(match.group()):04X}&gt;</span>'
    )


def mark_bidi(html: Markup) -> Markup:
    """Escaped HTML with every bidi control replaced by its marker.

    Safe on any escaped HTML or Pygments output: a control character can only occur in text
    there, never inside a tag, so the inserted span never lands in a tag or an attribute.
    """
    return Markup(BIDI_CONTROLS.sub(_marker, str(html)))


def reveal_bidi(value: object) -> Markup:
    """``value`` as escaped text, its bidi controls shown as markers (the templates' ``bidi``)."""
    return mark_bidi(escape("" if value is None else value))
