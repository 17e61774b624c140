"""The names of the quality flags and how they are stored in ``Sequence.flags``.

The stored document is shared with other writers (the dashboard may add its own keys), so
computing flags replaces only the keys named here and keeps the rest.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Any


class Flag(StrEnum):
    """A quality problem a sequence can be flagged with."""

    CONTAMINATION = "contamination"
    NEAR_DUPLICATE = "near_duplicate"
    NO_ASSERTS = "no_asserts"
    OVER_LENGTH = "over_length"
    SPECIAL_TOKEN_TEXT = "special_token_text"
    BIDI_CONTROLS = "bidi_controls"
    PASSED_WITH_ERRORS = "passed_with_errors"
    STALLED = "stalled"
    TRUNCATED_ANSWER = "truncated_answer"
    CONTEXT_TRIMMED = "context_trimmed"
    CONTEXT_EXHAUSTED = "context_exhausted"


# The key each flag is stored under; a flag is raised when its key holds a truthy value.
FLAG_KEYS: dict[Flag, str] = {
    Flag.CONTAMINATION: "contamination",  # list of {benchmark, task_id, method, field}
    Flag.NEAR_DUPLICATE: "near_duplicate_of",  # id of the earlier sequence it duplicates
    Flag.NO_ASSERTS: "no_asserts",  # true when the tests run assert nothing
    Flag.OVER_LENGTH: "over_length",  # {tokenizer, tokens, max_len}
    Flag.SPECIAL_TOKEN_TEXT: "special_token_text",  # sorted special-token strings in contents
    Flag.BIDI_CONTROLS: "bidi_controls",  # {characters}: how many, over every stored text
    Flag.PASSED_WITH_ERRORS: "passed_with_errors",  # true when a passed run printed an error
    # Written by the loop while it generates:
    Flag.STALLED: "stalled",  # true when stage 1 ended with the model resending its programs
    Flag.TRUNCATED_ANSWER: "truncated_answer",  # how many answers were kept cut off
    Flag.CONTEXT_TRIMMED: "context_trimmed",  # how many requests showed earlier blocks trimmed
    Flag.CONTEXT_EXHAUSTED: "context_exhausted",  # true when a request could not fit at all
}


# Left out of exports unless asked otherwise: a contaminated record leaks a benchmark, and a
# record whose run passed while printing an error teaches that the error is fine.
DEFAULT_EXCLUDED_FLAGS = (Flag.CONTAMINATION, Flag.PASSED_WITH_ERRORS)
# MinHash Jaccard estimate from which a later instruction is a near-duplicate of an earlier one.
NEAR_DUPLICATE_THRESHOLD = 0.85
# Not a flag: the benchmarks the last contamination check compared a sequence with, so an
# export can say what its records were checked against (and which were never checked).
CONTAMINATION_CHECKED_KEY = "contamination_checked"


def raised_flags(flags: Mapping[str, Any] | None) -> frozenset[Flag]:
    """The flags a stored flags document raises."""
    if not flags:
        return frozenset()
    return frozenset(flag for flag, key in FLAG_KEYS.items() if flags.get(key))


def merge_flags(stored: Mapping[str, Any] | None, computed: Mapping[Flag, Any]) -> dict[str, Any]:
    """``stored`` with the flags that were just computed replaced; a falsy value clears one.

    Flags not computed in this pass (say, over-length when no tokenizer was given) keep their
    stored value, and so do keys other writers put in the document.
    """
    merged = dict(stored or {})
    for flag, value in computed.items():
        if value:
            merged[FLAG_KEYS[flag]] = value
        else:
            merged.pop(FLAG_KEYS[flag], None)
    return merged
