"""The rows of an instruction file, whatever its format: JSONL, a JSON array, CSV or Parquet.

Every reader yields ``Record`` s that say where they came from (a JSONL or CSV line, an array
index, a Parquet row), so errors can point back to the input. JSONL, CSV and Parquet are read
incrementally: JSONL and CSV from byte chunks (a request stream or a file), Parquet batch by
batch from a seekable file (its index sits at the end, so a request body is spooled to a
temporary file first). A JSON array is parsed whole; large sets belong in one of the others.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path, PurePath
from typing import IO, Any

# The longest sensible line: both text fields at their limits, every character escaped.
MAX_LINE_BYTES = 8 * 1024 * 1024
PARQUET_BATCH_ROWS = 1024


class InputFormat(StrEnum):
    """The formats an instruction file may come in."""

    JSONL = "jsonl"
    JSON = "json"
    CSV = "csv"
    PARQUET = "parquet"


SUFFIXES = {
    ".jsonl": InputFormat.JSONL,
    ".ndjson": InputFormat.JSONL,
    ".json": InputFormat.JSON,
    ".csv": InputFormat.CSV,
    ".parquet": InputFormat.PARQUET,
    ".pq": InputFormat.PARQUET,
}
MEDIA_TYPES = {
    "application/x-ndjson": InputFormat.JSONL,
    "application/jsonl": InputFormat.JSONL,
    "application/x-jsonlines": InputFormat.JSONL,
    "application/json": InputFormat.JSON,
    "text/csv": InputFormat.CSV,
    "application/vnd.apache.parquet": InputFormat.PARQUET,
    "application/x-parquet": InputFormat.PARQUET,
}
MEDIA_TYPE_OF = {
    InputFormat.JSONL: "application/x-ndjson",
    InputFormat.JSON: "application/json",
    InputFormat.CSV: "text/csv",
    InputFormat.PARQUET: "application/vnd.apache.parquet",
}


def format_of_path(path: PurePath) -> InputFormat:
    """The format a file's suffix names; JSONL for anything else (the historical default)."""
    return SUFFIXES.get(path.suffix.lower(), InputFormat.JSONL)


@dataclass(frozen=True)
class Record:
    """One row before validation.

    ``position`` numbers the row for duplicate reports: the line (JSONL, CSV), the array index
    (JSON) or the 1-based row (Parquet). ``raw`` holds an unparsed JSONL line, ``value`` any
    other row.
    """

    position: int
    line: int | None = None
    row: int | None = None
    raw: bytes | None = None
    value: Any = None

    def where(self) -> str:
        """``line 3``, ``row 3`` or ``item 3``, for messages."""
        if self.line is not None:
            return f"line {self.line}"
        if self.row is not None:
            return f"row {self.row}"
        return f"item {self.position}"


class RecordError(ValueError):
    """The file itself cannot be read (not Parquet, an endless line, a broken CSV quote)."""

    def __init__(self, message: str, *, line: int | None = None, row: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.line = line
        self.row = row


def split_lines(chunks: Iterable[bytes]) -> Iterator[tuple[int, bytes]]:
    """``(line number, line)`` pairs, 1-based, without the newline.

    Only the newest chunk is searched for newlines, so a long line costs linear time; a line
    longer than ``MAX_LINE_BYTES`` is refused instead of buffered without end.
    """
    pending: list[bytes] = []
    pending_size = 0
    number = 0
    for chunk in chunks:
        pieces = chunk.split(b"\n")
        if len(pieces) == 1:
            pending.append(chunk)
            pending_size += len(chunk)
            if pending_size > MAX_LINE_BYTES:
                raise RecordError(f"line exceeds {MAX_LINE_BYTES} bytes", line=number + 1)
            continue
        pending.append(pieces[0])
        number += 1
        yield number, b"".join(pending)
        for piece in pieces[1:-1]:
            number += 1
            yield number, piece
        pending = [pieces[-1]]
        pending_size = len(pieces[-1])
    if pending_size:
        yield number + 1, b"".join(pending)


def jsonl_records(chunks: Iterable[bytes]) -> Iterator[Record]:
    """Every non-blank JSONL line, unparsed, positioned by its line number."""
    for number, line in split_lines(chunks):
        if line.strip():
            yield Record(position=number, line=number, raw=line)


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not valid JSON")


def parse_json(data: bytes | str) -> Any:
    """Strict JSON: NaN and Infinity, which Python would accept, are refused."""
    return json.loads(data, parse_constant=_reject_constant)


def json_array_records(body: bytes) -> Iterator[Record]:
    """The elements of a JSON array, positioned by index."""
    try:
        document = parse_json(body)
    except (ValueError, UnicodeDecodeError) as error:
        raise RecordError(f"not JSON: {error}") from error
    if not isinstance(document, list):
        raise RecordError("a JSON instruction file must be an array of objects")
    for index, value in enumerate(document):
        yield Record(position=index, value=value)


class _ChunkStream(io.RawIOBase):
    """Byte chunks as a readable binary stream, for the csv module's text reader."""

    def __init__(self, chunks: Iterable[bytes]) -> None:
        super().__init__()
        self._chunks = iter(chunks)
        self._left = b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while not self._left:
            chunk = next(self._chunks, None)
            if chunk is None:
                return 0
            self._left = chunk
        size = min(len(buffer), len(self._left))
        buffer[:size] = self._left[:size]
        self._left = self._left[size:]
        return size


def csv_records(chunks: Iterable[bytes]) -> Iterator[Record]:
    """CSV rows with a header line, as dicts without their empty cells.

    Positioned by the line the row starts on (the header is line 1). An empty cell means the
    field is absent, as a missing key in JSON does.
    """
    csv.field_size_limit(max(csv.field_size_limit(), MAX_LINE_BYTES))
    text = io.TextIOWrapper(
        io.BufferedReader(_ChunkStream(chunks)), encoding="utf-8-sig", newline=""
    )
    reader = csv.reader(text)
    try:
        header = next(reader, None)
        if header is None:
            return
        names = [name.strip() for name in header]
        if len(set(names)) != len(names) or not all(names):
            raise RecordError("the CSV header needs distinct, non-empty column names", line=1)
        start = reader.line_num + 1
        for cells in reader:
            if any(cell.strip() for cell in cells):
                if len(cells) > len(names):
                    raise RecordError(
                        f"{len(cells)} cells but {len(names)} columns in the header", line=start
                    )
                row = {name: cell for name, cell in zip(names, cells, strict=False) if cell}
                yield Record(position=start, line=start, value=row)
            start = reader.line_num + 1
    except UnicodeDecodeError as error:
        raise RecordError(f"the CSV file is not UTF-8: {error}") from error
    except csv.Error as error:
        raise RecordError(f"malformed CSV: {error}", line=reader.line_num) from error


def parquet_records(source: IO[bytes] | Path) -> Iterator[Record]:
    """Parquet rows as dicts, read a batch at a time (never the whole table)."""
    import pyarrow as pa  # noqa: PLC0415 - a heavy import, needed for Parquet only
    import pyarrow.parquet as pq  # noqa: PLC0415

    try:
        parquet = pq.ParquetFile(source)
    except (pa.ArrowException, OSError) as error:
        raise RecordError(f"not a Parquet file: {error}") from error
    number = 0
    try:
        for batch in parquet.iter_batches(batch_size=PARQUET_BATCH_ROWS):
            for value in batch.to_pylist():
                number += 1
                yield Record(position=number, row=number, value=value)
    except (pa.ArrowException, OSError) as error:
        raise RecordError(f"the Parquet file cannot be read: {error}", row=number + 1) from error
