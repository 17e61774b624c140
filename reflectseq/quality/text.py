"""Word-level normalisation shared by the contamination and near-duplicate checks.

Words are maximal runs of word characters, lower-cased: punctuation, indentation and line breaks
differ freely between a benchmark file and a model's copy of it, the words do not.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence

_WORD = re.compile(r"\w+")


def words(text: str) -> list[str]:
    """The lower-cased words of ``text``."""
    return _WORD.findall(text.lower())


def word_ngrams(tokens: Sequence[str], n: int) -> Iterator[tuple[str, ...]]:
    """Every run of ``n`` consecutive words (none when there are fewer)."""
    for start in range(len(tokens) - n + 1):
        yield tuple(tokens[start : start + n])


def normalized(text: str) -> str:
    """Lower-cased with every whitespace run collapsed to one space (for substring checks)."""
    return " ".join(text.lower().split())
