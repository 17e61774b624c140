"""Literal special-token strings inside record content: finding them, and escaping them.

reflectseq's trainer tokenizes block contents with special tokens split, so a program that
prints ``<|endofblock|>`` or a prompt that quotes ``</s>`` stays text. The reference trainer
tokenizes the serialized record instead, and its tokenizer turns such text into real tokens:
a block or message seems to end in the middle of a block, and the label and student masks it
derives from those ids cover the wrong tokens. Records holding such text are flagged
(``special_token_text``) and can be excluded or, for the reference trainer, escaped.

Escaping puts a zero-width space (U+200B) after the first character of each occurrence:
``<|endofblock|>`` becomes ``<\\u200b|endofblock|>``, which no tokenizer matches as its token, and
which reads the same.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from functools import lru_cache
from typing import Any

from reflectseq.format import SPECIAL_TOKENS, Record, RecordBlock, RecordMessage
from reflectseq.quality.flags import FLAG_KEYS, Flag

ESCAPE = "\u200b"

# The seven format tokens, and the BOS/EOS/UNK strings of the model families the paper trains
# (CodeLlama, DeepSeek-Coder) and of GPT-style tokenizers (Qwen, StarCoder). A tokenizer given
# to ``flags compute`` adds its own added tokens.
DEFAULT_SPECIAL_TEXTS: frozenset[str] = frozenset(
    {
        *SPECIAL_TOKENS,
        "<s>",
        "</s>",
        "<unk>",
        "<|endoftext|>",
        # DeepSeek-Coder's BOS and EOS, spelt with full-width bars and lower one-eighth blocks.
        "<\uff5cbegin\u2581of\u2581sentence\uff5c>",
        "<\uff5cend\u2581of\u2581sentence\uff5c>",
    }
)


def tokenizer_texts(tokenizer: Any) -> frozenset[str]:
    """The strings a ``transformers`` tokenizer turns into single tokens wherever they occur."""
    return frozenset(tokenizer.get_added_vocab())


class SpecialTextFinder:
    """Finds and escapes a fixed set of special-token strings in record contents."""

    def __init__(self, texts: Iterable[str]) -> None:
        self.texts = frozenset(texts)
        # Longest first, so a string that starts another never hides it.
        alternatives = sorted(self.texts, key=len, reverse=True)
        self._pattern = re.compile("|".join(map(re.escape, alternatives)))

    def found(self, record: Record) -> list[str]:
        """The distinct special-token strings the record's contents hold, sorted."""
        return sorted(
            {
                match
                for message in record.messages
                for block in message.content
                for match in self._pattern.findall(block.content)
            }
        )

    def escape(self, text: str) -> str:
        """``text`` with a zero-width space after the first character of each occurrence."""
        return self._pattern.sub(lambda match: match[0][0] + ESCAPE + match[0][1:], text)

    def escaped(self, record: Record) -> Record:
        """The record with every block's special-token strings escaped."""
        return record.model_copy(
            update={
                "messages": [
                    RecordMessage(
                        role=message.role,
                        content=[
                            RecordBlock(type=block.type, content=self.escape(block.content))
                            for block in message.content
                        ],
                    )
                    for message in record.messages
                ]
            }
        )


@lru_cache(maxsize=64)
def _finder(texts: frozenset[str]) -> SpecialTextFinder:
    return SpecialTextFinder(texts)


def finder_for(flags: Mapping[str, Any] | None) -> SpecialTextFinder:
    """The finder that escapes a stored sequence: the defaults and what its flag found.

    The flag may name strings of the tokenizer given to ``flags compute`` beyond the defaults;
    those are escaped too.
    """
    stored = (flags or {}).get(FLAG_KEYS[Flag.SPECIAL_TOKEN_TEXT]) or []
    return _finder(DEFAULT_SPECIAL_TEXTS.union(stored))
