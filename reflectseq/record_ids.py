"""The token ids of a training record: built once, here, for the trainer and the export alike.

The trainer builds its input with this module and the export's over-length flag counts with
it, so a record that passes the export's check fits the trainer, token for token.

The seven special tokens are inserted as ids; block contents are tokenized on their own with
special tokens *split*, so content that spells ``<|endofblock|>``, ``<s>`` or ``</s>`` stays
text and cannot break the record's structure (tokenizing the serialized string, as the
reference trainer does, turns such text into real tokens). BOS comes first when the tokenizer
has one; EOS always ends the record.

The tokenizer is any object with the ``transformers`` tokenizer interface; ``tokenizers`` is
imported only to add the special tokens, so this module loads without the ``train`` extra.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from reflectseq.format import (
    BLOCK_TOKENS,
    END_OF_BLOCK,
    END_OF_MESSAGE,
    ROLE_TOKENS,
    SPECIAL_TOKENS,
    Record,
)


def add_record_tokens(tokenizer: Any) -> list[int]:
    """Add the seven tokens as special tokens (never split or stripped); return the new ids."""
    from tokenizers import AddedToken  # noqa: PLC0415 - optional dependency (train extra)

    before = set(tokenizer.get_vocab())
    tokens = [AddedToken(t, special=True, normalized=False) for t in SPECIAL_TOKENS]
    tokenizer.add_tokens(tokens, special_tokens=True)
    return [tokenizer.convert_tokens_to_ids(t) for t in SPECIAL_TOKENS if t not in before]


@dataclass(frozen=True)
class MessageIds:
    """One message: its role token, each block as type token + content + end, its end token."""

    role: int
    blocks: list[list[int]]
    end: int

    def __len__(self) -> int:
        return 2 + sum(len(block) for block in self.blocks)


@dataclass(frozen=True)
class RecordIds:
    """A record's ids, message by message, between the optional BOS and the EOS."""

    bos: int | None
    messages: list[MessageIds]
    eos: int

    def __len__(self) -> int:
        return (self.bos is not None) + sum(map(len, self.messages)) + 1


class RecordIdBuilder:
    """Builds record ids with one tokenizer that already carries the seven special tokens."""

    def __init__(self, tokenizer: Any) -> None:
        ids = tokenizer.convert_tokens_to_ids(list(SPECIAL_TOKENS))
        unknown = getattr(tokenizer, "unk_token_id", None)
        missing = [t for t, i in zip(SPECIAL_TOKENS, ids, strict=True) if i is None or i == unknown]
        if missing:
            raise ValueError(f"the tokenizer lacks the special tokens {missing}; add them first")
        if tokenizer.eos_token_id is None:
            raise ValueError("the tokenizer has no EOS token; records must end with one")
        self.tokenizer = tokenizer
        self.special_ids: dict[str, int] = dict(zip(SPECIAL_TOKENS, ids, strict=True))
        self.bos_id: int | None = tokenizer.bos_token_id
        self.eos_id: int = tokenizer.eos_token_id

    def content_ids(self, contents: list[str]) -> list[list[int]]:
        """Each content's ids, special-token text split into ordinary tokens."""
        if not contents:
            return []
        encoded = self.tokenizer(contents, add_special_tokens=False, split_special_tokens=True)
        return [list(ids) for ids in encoded["input_ids"]]

    def build(self, record: Record) -> RecordIds:
        """The ids of ``record``."""
        contents = iter(self.content_ids([b.content for m in record.messages for b in m.content]))
        special = self.special_ids
        messages = [
            MessageIds(
                role=special[ROLE_TOKENS[message.role]],
                blocks=[
                    [special[BLOCK_TOKENS[block.type]], *next(contents), special[END_OF_BLOCK]]
                    for block in message.content
                ],
                end=special[END_OF_MESSAGE],
            )
            for message in record.messages
        ]
        return RecordIds(bos=self.bos_id, messages=messages, eos=self.eos_id)
