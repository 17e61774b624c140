"""Field mappings: how the columns of someone else's instruction dataset become reflectseq tasks.

Instruction datasets name their fields ``instruction``, ``problem``, ``prompt``, ``test``...;
reflectseq's are ``text``, ``language``, ``tests``, ``entry_point`` and ``metadata``. A mapping
says which column holds which field (``text=instruction``), optionally starting from a preset
(``presets.toml``) for a known layout. The API, ``reflectseq run`` and ``reflectseq submit``
all build their mapping here, so the three accept exactly the same options.

Without a mapping a row must be in reflectseq's own layout, and unknown keys are refused (a
typo would otherwise silently drop a field). With one, columns that are not mapped are ignored:
other layouts carry answers and bookkeeping columns that are no part of a task.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any

from reflectseq.ingest.presets import Preset, preset_table
from reflectseq.languages import resolve_language

TASK_FIELDS = ("text", "language", "tests", "entry_point", "metadata")
METADATA_PREFIX = "metadata."
_METADATA_KEY = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$")
# MultiPL-E's tests of brace languages open by closing the function the prompt left open (its
# completions stop inside the body). The task asks for the whole function, so those lines go.
_CLOSING_LINE = re.compile(r"^[ \t]*\}[ \t]*;?[ \t]*$")


class MappingError(ValueError):
    """A mapping option is malformed; ``option`` names it (``field``, ``preset``, ``language``)."""

    def __init__(self, option: str, message: str) -> None:
        super().__init__(message)
        self.option = option
        self.message = message


class RowError(ValueError):
    """A row cannot be mapped; ``field`` is the task field concerned."""

    def __init__(self, field_name: str, message: str) -> None:
        super().__init__(message)
        self.field = field_name
        self.message = message


def _check_target(target: str) -> None:
    if target in TASK_FIELDS:
        return
    if target.startswith(METADATA_PREFIX) and _METADATA_KEY.match(target[len(METADATA_PREFIX) :]):
        return
    raise MappingError(
        "field",
        f"unknown field {target!r}: map one of {', '.join(TASK_FIELDS)} or metadata.KEY",
    )


def parse_field_option(entry: str) -> tuple[str, str]:
    """``"text=instruction"`` as ``("text", "instruction")``."""
    target, equals, source = entry.partition("=")
    target, source = target.strip(), source.strip()
    if not equals or not target or not source:
        raise MappingError("field", f"{entry!r} is not FIELD=COLUMN (e.g. text=instruction)")
    _check_target(target)
    return target, source


def _jsonable(value: Any) -> Any:
    """Values of typed formats (Parquet dates, decimals, bytes) as JSON-storable ones."""
    if isinstance(value, dict):
        return {str(key): _jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(item) for item in value]
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return value


def _absent(value: Any) -> bool:
    """Under a mapping, nulls and empty strings mean "no value", as a missing key does."""
    return value is None or value == ""


def strip_closing_lines(tests: str) -> str:
    """``tests`` without the leading lines that close a function left open by a code prompt."""
    lines = tests.splitlines(keepends=True)
    start = 0
    while start < len(lines) and (not lines[start].strip() or _CLOSING_LINE.match(lines[start])):
        start += 1
    return "".join(lines[start:])


@dataclass(frozen=True)
class FieldMapping:
    """Which column holds which task field, plus what a preset adds.

    ``columns`` maps a task field (or ``metadata.KEY``) to its column. An identity mapping
    (no preset, no field, no language) keeps reflectseq's own strict layout.
    """

    columns: dict[str, str] = field(default_factory=dict)
    language: str | None = None
    preset: str | None = None
    completes_signature: bool = False
    tests_suffix: str = ""

    @classmethod
    def from_options(
        cls, *, preset: str | None = None, fields: Sequence[str] = (), language: str | None = None
    ) -> FieldMapping:
        """The mapping of a command line or request: a preset, then ``FIELD=COLUMN`` overrides.

        ``language`` is the language of rows that name none; it must be a known language.
        """
        columns: dict[str, str] = {}
        base: Preset | None = None
        if preset:
            table = preset_table().presets
            base = table.get(preset)
            if base is None:
                raise MappingError(
                    "preset", f"unknown preset {preset!r}; known: {', '.join(sorted(table))}"
                )
            columns.update(base.fields)
        for entry in fields:
            target, source = parse_field_option(entry)
            columns[target] = source
        if language is not None:
            try:
                language = resolve_language(language).code
            except KeyError as error:
                raise MappingError("language", str(error.args[0])) from error
        return cls(
            columns=columns,
            language=language if language is not None else (base.language if base else None),
            preset=base.name if base else None,
            completes_signature=base.completes_signature if base else False,
            tests_suffix=base.tests_suffix if base else "",
        )

    @property
    def is_identity(self) -> bool:
        """True when rows are read in reflectseq's own layout."""
        return not self.columns and self.language is None and self.preset is None

    def source_of(self, target: str) -> str:
        """The column that holds ``target``."""
        return self.columns.get(target, target)

    def apply(self, row: Any) -> dict[str, Any]:
        """The task fields of one row (a JSON object, a CSV row or a Parquet row)."""
        if not isinstance(row, dict):
            raise RowError("", "must be an object")
        if self.is_identity:  # a null (Parquet, JSON) means the field is absent
            task = {key: value for key, value in row.items() if value is not None}
        else:
            task = self._mapped(row)
        if isinstance(task.get("metadata"), str):
            task["metadata"] = _metadata(task["metadata"])
        if "metadata" in task:
            task["metadata"] = _jsonable(task["metadata"])
        if isinstance(task.get("tests"), list) and all(isinstance(t, str) for t in task["tests"]):
            task["tests"] = "\n".join(task["tests"])
        if "language" not in task and self.language is not None:
            task["language"] = self.language
        if self.tests_suffix:
            task["tests"] = self._tests_with_suffix(task)
        if self.completes_signature:
            return self._signature_task(task)
        return task

    def _mapped(self, row: dict[str, Any]) -> dict[str, Any]:
        """The mapped columns of ``row`` under their field names; other columns are dropped."""
        task = {
            target: row[self.source_of(target)]
            for target in TASK_FIELDS
            if not _absent(row.get(self.source_of(target)))
        }
        extra = {
            target[len(METADATA_PREFIX) :]: row[source]
            for target, source in self.columns.items()
            if target.startswith(METADATA_PREFIX) and not _absent(row.get(source))
        }
        if extra:
            base = _metadata(task.get("metadata", {}))
            if not isinstance(base, dict):
                raise RowError("metadata", "must be an object")
            task["metadata"] = {**base, **extra}
        return task

    def _tests_with_suffix(self, task: dict[str, Any]) -> str:
        """The tests followed by the preset's suffix (HumanEval: the call of ``check``)."""
        try:
            if "tests" not in task:
                raise KeyError("tests")
            suffix = self.tests_suffix.format(**task)
        except KeyError as error:
            name = error.args[0]
            raise RowError(name, "missing; the preset's tests need it") from error
        return f"{str(task['tests']).rstrip()}{suffix}"

    def _signature_task(self, task: dict[str, Any]) -> dict[str, Any]:
        """The task asking to complete a code prompt; the prompt itself stays in metadata."""
        signature, language = task.get("text"), task.get("language")
        if not isinstance(signature, str) or not isinstance(language, str):
            return task  # the spec's validation names what is missing
        try:
            known = resolve_language(language)
        except KeyError:
            return task  # the language check names it
        text = preset_table().signature_instruction.format(
            language=known.name, fence=known.fence, signature=signature.strip("\n")
        )
        completed = {**task, "text": text}
        if isinstance(task.get("tests"), str):
            completed["tests"] = strip_closing_lines(task["tests"])
        metadata = completed.get("metadata", {})
        if isinstance(metadata, dict):
            completed["metadata"] = {**metadata, "signature": signature}
        return completed


def _metadata(value: Any) -> Any:
    """A metadata value; CSV cells carry it as a JSON object."""
    if not isinstance(value, str):
        return value
    try:
        decoded = json.loads(value)
    except ValueError as error:
        raise RowError("metadata", f"must be a JSON object ({error})") from error
    if not isinstance(decoded, dict):
        raise RowError("metadata", "must be a JSON object")
    return decoded
