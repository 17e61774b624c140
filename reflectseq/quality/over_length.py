"""Records longer than a trainer's ``max_len`` for a given tokenizer.

The reference trainer drops such records without a word; flagging them at export time makes the
loss visible. Tokens are counted the way the trainer builds its input: each of the seven
special tokens is one id, block contents are tokenized on their own without added special
tokens, and BOS and EOS add two. The tokenizer is never modified.

``tokenizers`` and ``transformers`` are optional (the ``train`` extra) and imported only when a
tokenizer is actually loaded.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from reflectseq.format import Record

BOS_EOS = 2
# Per message: the role token and <|endofmessage|>; per block: its type token and <|endofblock|>.
TOKENS_PER_MESSAGE = 2
TOKENS_PER_BLOCK = 2

ContentCounter = Callable[[str], int]


class TokenizerUnavailable(RuntimeError):
    """The tokenizer could not be loaded (missing file, missing optional dependency)."""


def content_counter(tokenizer: Any) -> ContentCounter:
    """Token counting for a ``tokenizers.Tokenizer`` or a ``transformers`` tokenizer object."""
    if hasattr(tokenizer, "encode_batch") and hasattr(tokenizer, "get_vocab_size"):
        return lambda text: len(tokenizer.encode(text, add_special_tokens=False).ids)
    if callable(getattr(tokenizer, "encode", None)):
        return lambda text: len(tokenizer.encode(text, add_special_tokens=False))
    raise TypeError(f"not a tokenizer: {type(tokenizer).__name__} has no encode method")


def load_tokenizer(source: str | Path) -> tuple[str, ContentCounter]:
    """A tokenizer by ``tokenizer.json`` path, model directory or hub name, with its name.

    A ``tokenizer.json`` needs only ``tokenizers``; anything else goes through
    ``transformers.AutoTokenizer`` (a local model directory works offline).
    """
    path = Path(source)
    if path.is_file():
        try:
            from tokenizers import Tokenizer  # noqa: PLC0415 - optional dependency
        except ImportError as error:
            raise TokenizerUnavailable(
                "reading tokenizer.json needs the tokenizers package (pip install "
                "'reflectseq[train]')"
            ) from error
        try:
            return path.name, content_counter(Tokenizer.from_file(str(path)))
        except Exception as error:
            raise TokenizerUnavailable(f"cannot load tokenizer file {path}: {error}") from error
    try:
        from transformers import AutoTokenizer  # noqa: PLC0415 - optional dependency
    except ImportError as error:
        raise TokenizerUnavailable(
            f"{source} is not a tokenizer.json file, and loading a model's tokenizer needs "
            "transformers (pip install 'reflectseq[train]')"
        ) from error
    try:
        return str(source), content_counter(AutoTokenizer.from_pretrained(str(source)))
    except Exception as error:
        raise TokenizerUnavailable(f"cannot load tokenizer {source}: {error}") from error


def record_tokens(record: Record, count: ContentCounter) -> int:
    """How many tokens the trainer's input for ``record`` has, BOS and EOS included."""
    total = BOS_EOS
    for message in record.messages:
        total += TOKENS_PER_MESSAGE
        for block in message.content:
            total += TOKENS_PER_BLOCK + count(block.content)
    return total


def over_length(
    record: Record, count: ContentCounter, *, tokenizer_name: str, max_len: int
) -> dict[str, Any] | None:
    """The stored over-length flag for ``record``, or None when it fits ``max_len``."""
    tokens = record_tokens(record, count)
    if tokens <= max_len:
        return None
    return {"tokenizer": tokenizer_name, "tokens": tokens, "max_len": max_len}
