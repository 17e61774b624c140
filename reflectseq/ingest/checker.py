"""Validation of instruction rows, shared by the API's streaming ingest and ``reflectseq run``.

Each record is mapped (``FieldMapping``), validated as an ``InstructionSpec``, checked for what
the database cannot store, and its language resolved to the canonical code. Problems are
collected rather than raised one by one, so a single answer lists many of them; once the first
is seen, valid rows are no longer passed on (nothing half-written), but checking goes on.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from pydantic import ValidationError

from reflectseq.ingest.mapping import FieldMapping, RowError
from reflectseq.ingest.records import Record, RecordError, parse_json
from reflectseq.languages import resolve_language
from reflectseq.reference_check import solution_problem
from reflectseq.specs import InstructionSpec
from reflectseq.storable import FieldPath, unstorable

DEFAULT_MAX_PROBLEMS = 20


@dataclass(frozen=True)
class Problem:
    """One invalid row (or the file itself): where, which field, what is wrong."""

    message: str
    record: Record | None = None
    line: int | None = None
    row: int | None = None
    field: FieldPath = ()

    def describe(self) -> str:
        """``line 3: text: Field required`` (``row`` for Parquet, ``item`` for JSON arrays)."""
        parts = []
        if self.line is not None:
            parts.append(f"line {self.line}")
        elif self.row is not None:
            parts.append(f"row {self.row}")
        elif self.record is not None:
            parts.append(self.record.where())
        if self.field:
            parts.append(".".join(str(part) for part in self.field))
        return ": ".join([*parts, self.message])


class InvalidInstructions(ValueError):
    """The rows hold problems (at most the checker's cap of them); nothing may be stored."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("\n".join(problem.describe() for problem in problems))
        self.problems = problems


class InstructionChecker:
    """Checks records one by one, collecting problems, and passes on the valid ones.

    ``check_solutions`` runs a task's reference ``solution`` against its tests in the sandbox
    (the API does, so a task whose tests cannot pass is refused at submission).
    """

    def __init__(
        self,
        mapping: FieldMapping | None = None,
        *,
        max_problems: int = DEFAULT_MAX_PROBLEMS,
        language_hint: str = "",
        check_solutions: bool = False,
    ) -> None:
        self.mapping = mapping or FieldMapping()
        self.problems: list[Problem] = []
        self.seen = 0
        self._max_problems = max_problems
        self._language_hint = language_hint
        self._check_solutions = check_solutions
        self._language_codes: dict[str, str | None] = {}

    def _fail(self, problem: Problem) -> None:
        self.problems.append(problem)
        if len(self.problems) >= self._max_problems:
            raise InvalidInstructions(self.problems[: self._max_problems])

    def _at(self, record: Record, field: FieldPath, message: str) -> Problem:
        return Problem(
            message=message, record=record, line=record.line, row=record.row, field=field
        )

    def _column_note(self, field: FieldPath) -> str:
        """`` (column 'instruction')`` when the field was mapped from another column."""
        if self.mapping.is_identity or not field or not isinstance(field[0], str):
            return ""
        source = self.mapping.source_of(field[0])
        return f" (column {source!r})" if source != field[0] else ""

    def _language_code(self, name: str) -> str | None:
        if name not in self._language_codes:
            try:
                self._language_codes[name] = resolve_language(name).code
            except KeyError:
                self._language_codes[name] = None
        return self._language_codes[name]

    def _spec(self, record: Record) -> InstructionSpec:
        if record.raw is not None and self.mapping.is_identity:
            return InstructionSpec.model_validate_json(record.raw)
        value = record.value
        if record.raw is not None:
            try:
                value = parse_json(record.raw)
            except (ValueError, UnicodeDecodeError) as error:
                raise RowError("", f"not JSON: {error}") from error
        return InstructionSpec.model_validate(self.mapping.apply(value))

    def check(self, record: Record) -> InstructionSpec | None:
        """The record as a spec with its canonical language code, or None (problem recorded)."""
        self.seen += 1
        try:
            spec = self._spec(record)
        except RowError as error:
            field: FieldPath = (error.field,) if error.field else ()
            self._fail(self._at(record, field, error.message + self._column_note(field)))
            return None
        except ValidationError as error:
            for item in error.errors():
                location: FieldPath = tuple(item.get("loc", ()))
                self._fail(
                    self._at(record, location, str(item["msg"]) + self._column_note(location))
                )
            return None
        problem = unstorable(spec.model_dump())
        if problem is not None:
            self._fail(self._at(record, problem[0], problem[1]))
            return None
        code = self._language_code(spec.language)
        if code is None:
            message = f"unknown language {spec.language!r}{self._language_hint}"
            self._fail(self._at(record, ("language",), message + self._column_note(("language",))))
            return None
        failure = solution_problem(spec, code) if self._check_solutions else None
        if failure is not None:
            self._fail(self._at(record, ("solution",), failure))
            return None
        return spec if code == spec.language else spec.model_copy(update={"language": code})

    def valid(self, records: Iterable[Record]) -> Iterator[tuple[int, InstructionSpec]]:
        """``(position, spec)`` for each valid record until the first problem; after that the
        remaining records are only checked, to report more problems at once. A file that
        cannot be read further ends the checking with its problem."""
        try:
            for record in records:
                spec = self.check(record)
                if spec is not None and not self.problems:
                    yield record.position, spec
        except RecordError as error:
            self._fail(Problem(message=error.message, line=error.line, row=error.row))

    def raise_if_invalid(self) -> None:
        """Reject rows with problems, or no rows at all."""
        if not self.seen and not self.problems:
            self.problems.append(Problem(message="no instructions given", field=("instructions",)))
        if self.problems:
            raise InvalidInstructions(self.problems)
