"""Instruction files on disk, for ``reflectseq run``: every row read, mapped and checked.

The file's format follows its suffix (``.jsonl``, ``.json``, ``.csv``, ``.parquet``; anything
else is read as JSONL). The rows go through the same ``InstructionChecker`` as an API
submission, so a file that ``run`` accepts is one the API accepts, and vice versa.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from reflectseq.ingest.checker import InstructionChecker, Problem
from reflectseq.ingest.mapping import FieldMapping
from reflectseq.ingest.records import (
    InputFormat,
    Record,
    csv_records,
    format_of_path,
    json_array_records,
    jsonl_records,
    parquet_records,
)
from reflectseq.specs import InstructionSpec

CHUNK_BYTES = 64 * 1024
MAX_FILE_PROBLEMS = 50


def _chunks(path: Path) -> Iterator[bytes]:
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK_BYTES):
            yield chunk


def file_records(path: Path) -> Iterator[Record]:
    """The rows of an instruction file, in the format its suffix names."""
    input_format = format_of_path(path)
    if input_format is InputFormat.PARQUET:
        yield from parquet_records(path)
    elif input_format is InputFormat.JSON:
        yield from json_array_records(path.read_bytes())
    elif input_format is InputFormat.CSV:
        yield from csv_records(_chunks(path))
    else:
        yield from jsonl_records(_chunks(path))


def problem_text(path: Path, problem: Problem) -> str:
    """``tasks.jsonl:3: text: Field required``; Parquet rows and JSON items by name."""
    if problem.line is not None:
        return f"{path}:{problem.line}: " + Problem(problem.message, field=problem.field).describe()
    return f"{path}: {problem.describe()}"


def read_instruction_file(
    path: Path, mapping: FieldMapping | None = None
) -> list[tuple[int, InstructionSpec]]:
    """Every instruction of the file with its position, or ``InvalidInstructions``."""
    checker = InstructionChecker(mapping, max_problems=MAX_FILE_PROBLEMS)
    specs = list(checker.valid(file_records(path)))
    checker.raise_if_invalid()
    return specs
