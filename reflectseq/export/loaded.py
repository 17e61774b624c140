"""A stored sequence as plain, immutable data: what the writers and the quality checks read.

Exports hold one of these at a time instead of ORM objects, so memory stays constant however
many sequences are exported, and the writers stay pure functions that tests can feed directly.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, NamedTuple


class LoadedBlock(NamedTuple):
    """One block: its kind (text, code, execution, analysis), content and code language.

    ``passed_with_errors`` marks an execution that passed while its stderr carried an error.
    A named tuple rather than a frozen dataclass: an export builds one per block row, and a
    tuple is made several times faster.
    """

    kind: str
    content: str
    language: str | None = None
    passed_with_errors: bool = False


@dataclass(frozen=True, slots=True)
class LoadedMessage:
    """One message with its blocks in order."""

    index: int
    role: str
    blocks: tuple[LoadedBlock, ...]


@dataclass(frozen=True, slots=True)
class LoadedSequence:
    """One sequence with the columns exports filter, count and group by.

    ``review`` is the combined verdict of its reviews: ``rejected`` if any reviewer rejected it,
    ``accepted`` if one accepted it after its latest edit and none rejected it, else
    ``unreviewed``. The instruction's text and tests are loaded only for flag computation
    (exports read the messages instead).
    Block contents are the reviewers' latest edits where there are some; ``edited_blocks`` says
    how many of the blocks that is, so the manifest can tell edited data from generated data.
    """

    id: int
    instruction_set_id: int
    instruction_id: int
    generation_config_id: int
    language: str
    final_pass: bool | None
    rounds: int
    review: str
    messages: tuple[LoadedMessage, ...]
    flags: dict[str, Any] = field(default_factory=dict)
    instruction_text: str | None = None
    instruction_tests: str | None = None
    edited_blocks: int = 0

    def message(self, index: int) -> LoadedMessage | None:
        """The message stored at ``index``, if there is one."""
        for message in self.messages:
            if message.index == index:
                return message
        return None
