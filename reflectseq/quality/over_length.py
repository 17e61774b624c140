"""Records longer than a trainer's ``max_len`` for a given tokenizer.

The reference trainer drops such records without a word; flagging them at export time makes the
loss visible. Tokens are counted by building the record's ids with ``reflectseq.record_ids``,
the builder the trainer makes its input with, on the tokenizer loaded as the trainer loads it
(``AutoTokenizer.from_pretrained`` plus the seven special tokens): a record that passes this
check is neither skipped nor refused by the trainer with the same ``max_len``.

``transformers`` is optional (the ``train`` extra) and imported only when a tokenizer is loaded.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from reflectseq.format import Record
from reflectseq.record_ids import RecordIdBuilder, add_record_tokens


class TokenizerUnavailable(RuntimeError):
    """The tokenizer could not be loaded (missing file, missing optional dependency)."""


def load_tokenizer(source: str | Path) -> tuple[str, RecordIdBuilder]:
    """The id builder for a model directory or hub name, with the name the flag records.

    A ``tokenizer.json`` path stands for its directory: the trainer loads the directory, whose
    ``tokenizer_config.json`` says which BOS and EOS tokens a record gets.
    """
    path = Path(source)
    directory = path.parent if path.is_file() else source
    try:
        from transformers import AutoTokenizer  # noqa: PLC0415 - optional dependency
    except ImportError as error:
        raise TokenizerUnavailable(
            f"counting tokens with {source} needs transformers (pip install 'reflectseq[train]')"
        ) from error
    try:
        tokenizer = AutoTokenizer.from_pretrained(str(directory))
        add_record_tokens(tokenizer)
        return str(source), RecordIdBuilder(tokenizer)
    except Exception as error:
        raise TokenizerUnavailable(f"cannot load tokenizer {source}: {error}") from error


def record_tokens(record: Record, ids: RecordIdBuilder) -> int:
    """How many tokens the trainer's input for ``record`` has, BOS and EOS included."""
    return len(ids.build(record))


def over_length(
    record: Record, ids: RecordIdBuilder, *, tokenizer_name: str, max_len: int
) -> dict[str, Any] | None:
    """The stored over-length flag for ``record``, or None when it fits ``max_len``."""
    tokens = record_tokens(record, ids)
    if tokens <= max_len:
        return None
    return {"tokenizer": tokenizer_name, "tokens": tokens, "max_len": max_len}
