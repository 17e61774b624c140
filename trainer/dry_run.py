"""Show, for one record, which tokens are trained and which the student sees at a mask rate.

Only the tokenizer is loaded, so this is a quick check of data, labels and masks before a run.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np

from reflectseq.format import parse_json_line
from trainer.config import TrainConfig
from trainer.data import DataError, record_texts
from trainer.masks import Strategy, parse_block_order, record_rng, student_visibility
from trainer.model_setup import add_special_tokens, load_tokenizer
from trainer.tokenization import IGNORE_INDEX, RecordTokenizer


def _line(path: Path, number: int) -> str:
    lines = [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    if not 1 <= number <= len(lines):
        raise DataError(f"{path}: has {len(lines)} records, asked for record {number}")
    return lines[number - 1]


def dry_run_rows(
    config: TrainConfig, *, file_index: int, record_number: int, rate: float
) -> Iterator[str]:
    """One header, then one line per token: position, trained (T), seen per strategy (S), text."""
    path = config.train_files[file_index]
    tokenizer = load_tokenizer(config.model, lambda: record_texts(config.train_files))
    add_special_tokens(tokenizer)
    record = parse_json_line(_line(path, record_number))
    encoded = RecordTokenizer(tokenizer).encode(record)
    strategies: list[Strategy] = (
        []
        if record.is_generation or not config.distillation.enabled
        else list(config.distillation.strategies)
    )
    order = parse_block_order(config.distillation.block_order)
    seen = [
        student_visibility(
            encoded.segment,
            encoded.block_id,
            encoded.block_type,
            strategy=strategy,
            rate=rate,
            rng=record_rng(config.training.get("seed", 42), 0, record_number),
            block_order=order,
        )
        for strategy in strategies
    ]
    yield f"{path} record {record_number} ({record.type}), mask rate {rate:g}"
    yield "  pos  train  " + "  ".join(s.value for s in strategies) + "  token"
    tokens = tokenizer.convert_ids_to_tokens(encoded.input_ids.tolist())
    trained = encoded.labels != IGNORE_INDEX
    widths = [len(s.value) for s in strategies]
    for position, token in enumerate(tokens):
        marks = "  ".join(
            ("S" if bool(mask[position]) else ".").center(width)
            for mask, width in zip(seen, widths, strict=True)
        )
        flag = "T" if trained[position] else "."
        yield f"{position:5d}  {flag:^5}  {marks}  {token!r}"
    yield (
        f"{int(trained.sum())} of {len(tokens)} tokens trained; student sees "
        + ", ".join(f"{s.value}: {int(np.sum(m))}" for s, m in zip(strategies, seen, strict=True))
    )
