"""Read exported JSONL files into a tokenized dataset, and collate its records into batches.

Every file holds one record ``type`` (the exporter writes one file per type), which the sampler
relies on to keep micro-batches homogeneous. A bad line fails the whole load with its file and
line number; over-length records follow the configured policy and are always reported.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from pydantic import ValidationError
from torch.utils.data import Dataset

from reflectseq.format import parse_json_line
from trainer.config import OverLength
from trainer.tokenization import IGNORE_INDEX, EncodedRecord, RecordTokenizer, Segment

logger = logging.getLogger(__name__)


class DataError(ValueError):
    """A training file that cannot be used; the message names the file and line."""


@dataclass(frozen=True)
class SourceFile:
    """The records of one file, with the one type they share."""

    path: Path
    type: str
    records: list[EncodedRecord]


def load_file(
    path: Path, encoder: RecordTokenizer, max_len: int, overlength: OverLength
) -> SourceFile:
    """Tokenize one JSONL file; raise on bad lines, on mixed types, and (if asked) on long ones."""
    records: list[EncodedRecord] = []
    record_type: str | None = None
    too_long: list[int] = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise DataError(f"{path}: {exc}") from exc
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = parse_json_line(line)
        except ValidationError as exc:
            raise DataError(f"{path}:{number}: {exc}") from exc
        if record_type is None:
            record_type = record.type
        elif record.type != record_type:
            raise DataError(
                f"{path}:{number}: type {record.type!r} differs from the file's {record_type!r};"
                " write one type per file"
            )
        encoded = encoder.encode(record)
        if len(encoded) > max_len:
            if overlength is OverLength.ERROR:
                raise DataError(f"{path}:{number}: {len(encoded)} tokens exceed max_len {max_len}")
            too_long.append(number)
            continue
        records.append(encoded)
    if too_long:
        logger.warning(
            "%s: skipped %d record(s) longer than max_len %d (lines %s)",
            path,
            len(too_long),
            max_len,
            ", ".join(map(str, too_long[:20])) + (" ..." if len(too_long) > 20 else ""),
        )
    if not records:
        raise DataError(f"{path}: no usable records")
    assert record_type is not None
    return SourceFile(path=path, type=record_type, records=records)


def record_texts(paths: Sequence[Path]) -> Iterator[str]:
    """Every block content of the files (to train the tiny model's tokenizer on)."""
    for path in paths:
        with path.open(encoding="utf-8") as lines:
            for line in lines:
                if line.strip():
                    record = parse_json_line(line)
                    yield from (b.content for m in record.messages for b in m.content)


class RecordDataset(Dataset[dict[str, Any]]):
    """The records of several files, concatenated in file order."""

    def __init__(self, sources: Sequence[SourceFile]) -> None:
        self.sources = list(sources)
        self.records = [record for source in sources for record in source.records]

    @property
    def source_sizes(self) -> list[int]:
        return [len(source.records) for source in self.sources]

    @property
    def lengths(self) -> list[int]:
        return [len(record) for record in self.records]

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, index: int) -> dict[str, Any]:
        return {"record": self.records[index], "index": index}


def load_dataset(
    paths: Sequence[Path], encoder: RecordTokenizer, max_len: int, overlength: OverLength
) -> RecordDataset:
    """All training files as one dataset."""
    sources = [load_file(path, encoder, max_len, overlength) for path in paths]
    for source in sources:
        logger.info("%s: %d %r records", source.path, len(source.records), source.type)
    return RecordDataset(sources)


class Collator:
    """Right-pads a homogeneous list of records into tensors.

    The student mask is *not* built here: it depends on the training step, which a collator in
    a dataloader worker cannot know reliably. The layout arrays travel with the batch instead.
    """

    def __init__(self, pad_token_id: int) -> None:
        self.pad_token_id = pad_token_id

    def __call__(self, items: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        records: list[EncodedRecord] = [item["record"] for item in items]
        kinds = {record.is_generation for record in records}
        if len(kinds) != 1:
            raise ValueError("a micro-batch mixes generation and reflection records")
        width = max(len(record) for record in records)

        def pad(field: str, value: int) -> torch.Tensor:
            out = np.full((len(records), width), value, dtype=np.int64)
            for row, record in enumerate(records):
                array = getattr(record, field)
                out[row, : len(array)] = array
            return torch.from_numpy(out)

        lengths = torch.tensor([len(record) for record in records])
        return {
            "input_ids": pad("input_ids", self.pad_token_id),
            "attention_mask": (torch.arange(width)[None, :] < lengths[:, None]).long(),
            "labels": pad("labels", IGNORE_INDEX),
            "segment": pad("segment", int(Segment.HIDDEN)),
            "block_id": pad("block_id", -1),
            "block_type": pad("block_type", -1),
            "answer_start": torch.tensor([record.answer_start for record in records]),
            "answer_end": torch.tensor([record.answer_end for record in records]),
            "record_index": torch.tensor([item["index"] for item in items]),
            "is_generation": torch.tensor(records[0].is_generation),
        }
