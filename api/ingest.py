"""Streaming ingest of a submitted instruction set: parse, validate and store in one transaction.

The body is never held whole (except in the small JSON variant). Chunks are pulled from the
request stream into a worker thread, split into JSONL lines there, validated line by line with
``InstructionSpec`` and the language table (a task's reference ``solution``, if given, is run
against its tests in the sandbox), and fed lazily to
``create_instruction_set``, which inserts in batches. The database work is one transaction: a
bad line rolls everything back, so an invalid set stores nothing. Once the first error is
seen, inserting stops but validation goes on, so one answer lists up to
``MAX_REPORTED_ERRORS`` problems instead of making the user fix them one round-trip at a time.

Idempotency: the SHA-256 of the submission is kept with the set. A retry with the same
``Idempotency-Key`` and the same body gets the first set back; the same key with another body
is a conflict.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Literal

import anyio.from_thread
from pydantic import ValidationError
from sqlalchemy.orm import Session, sessionmaker

from api.errors import ApiError, details_from_pydantic, field_path
from api.schemas import ErrorDetail, SubmissionHeader
from reflectseq.db.models import GenerationConfig
from reflectseq.db.session import transaction
from reflectseq.languages import resolve_language
from reflectseq.llm.endpoints import (
    EndpointChoiceError,
    EndpointRegistry,
    resolve_generation_config,
)
from reflectseq.reference_check import solution_problem
from reflectseq.specs import GenerationConfigSpec, InstructionSpec
from reflectseq.storable import FieldPath, unstorable
from reflectseq.store.errors import Conflict
from reflectseq.store.instruction_sets import (
    Duplicate,
    create_instruction_set,
    find_by_idempotency_key,
    get_or_create_generation_config,
)

CHUNK_BYTES = 64 * 1024
MAX_REPORTED_ERRORS = 20
# The longest sensible line: both text fields at their limits, every character escaped.
MAX_LINE_BYTES = 8 * 1024 * 1024
IDEMPOTENCY_CONSTRAINT = "uq_instruction_set_submitted_by_key_id_idempotency_key"

BodyFormat = Literal["jsonl", "json"]


class SubmissionInvalid(ApiError):
    """The submission breaks the rules; nothing of it was stored."""

    def __init__(self, details: list[ErrorDetail]) -> None:
        super().__init__(422, "the submission is invalid; nothing was stored", details=details)


class HashingChunks:
    """The body as an iterator of byte chunks that hashes whatever passes through it."""

    def __init__(self, pull: Callable[[], bytes | None], *, seed: bytes = b"") -> None:
        self._pull = pull
        self._sha = hashlib.sha256(seed)
        self._exhausted = False

    def __iter__(self) -> Iterator[bytes]:
        while not self._exhausted:
            try:
                chunk = self._pull()
            except StopIteration:
                chunk = None
            if chunk is None:
                self._exhausted = True
                return
            self._sha.update(chunk)
            yield chunk

    def hexdigest(self) -> str:
        """The hash of the whole body; reads what is left of it first."""
        for _ in self:
            pass
        return self._sha.hexdigest()


def pull_from_async(stream: AsyncIterator[bytes]) -> Callable[[], bytes | None]:
    """A blocking ``next chunk`` for a worker thread, reading an async stream on the loop."""

    async def next_chunk() -> bytes | None:
        try:
            return await anext(stream)
        except StopAsyncIteration:
            return None

    return lambda: anyio.from_thread.run(next_chunk)


def pull_from_file(read: Callable[[int], bytes]) -> Callable[[], bytes | None]:
    """A blocking ``next chunk`` over a file's ``read``."""
    return lambda: read(CHUNK_BYTES) or None


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
                raise SubmissionInvalid(
                    [ErrorDetail(line=number + 1, message=f"line exceeds {MAX_LINE_BYTES} bytes")]
                )
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


@dataclass(frozen=True)
class Item:
    """One submitted instruction before validation: a JSONL line or a JSON array element."""

    position: int
    line: int | None
    raw: bytes | None = None
    value: Any = None


def jsonl_items(chunks: Iterable[bytes]) -> Iterator[Item]:
    """Every non-blank JSONL line, positioned by its line number."""
    for number, line in split_lines(chunks):
        if line.strip():
            yield Item(position=number, line=number, raw=line)


def check_header(header: SubmissionHeader) -> None:
    """Refuse a header the database could not store."""
    problem = unstorable(header.model_dump())
    if problem is not None:
        raise SubmissionInvalid([ErrorDetail(field=field_path(problem[0]), message=problem[1])])


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not valid JSON")


def parse_json_submission(body: bytes) -> tuple[SubmissionHeader, list[Item]]:
    """The JSON variant: ``{name, generation_config, instructions: [...]}``."""
    try:
        document = json.loads(body, parse_constant=_reject_constant)
    except (ValueError, UnicodeDecodeError) as error:
        raise SubmissionInvalid([ErrorDetail(message=f"the body is not JSON: {error}")]) from error
    if not isinstance(document, dict):
        raise SubmissionInvalid([ErrorDetail(message="the body must be a JSON object")])
    instructions = document.pop("instructions", None)
    details: list[ErrorDetail] = []
    if not isinstance(instructions, list):
        details.append(ErrorDetail(field="instructions", message="must be a list of objects"))
    try:
        header = SubmissionHeader.model_validate(document)
    except ValidationError as error:
        details.extend(details_from_pydantic(error.errors()))
    if details:
        raise SubmissionInvalid(details)
    assert isinstance(instructions, list)
    check_header(header)
    return header, [
        Item(position=index, line=None, value=v) for index, v in enumerate(instructions)
    ]


class InstructionValidator:
    """Validates items one by one, collecting errors, and passes on the valid ones."""

    def __init__(self) -> None:
        self.errors: list[ErrorDetail] = []
        self.seen = 0
        self._language_codes: dict[str, str | None] = {}

    def _fail(self, details: list[ErrorDetail]) -> None:
        self.errors.extend(details)
        if len(self.errors) >= MAX_REPORTED_ERRORS:
            raise SubmissionInvalid(self.errors[:MAX_REPORTED_ERRORS])

    def _language_code(self, name: str) -> str | None:
        if name not in self._language_codes:
            try:
                self._language_codes[name] = resolve_language(name).code
            except KeyError:
                self._language_codes[name] = None
        return self._language_codes[name]

    def check(self, item: Item) -> InstructionSpec | None:
        """The item as a spec with its canonical language code, or None (error recorded)."""
        self.seen += 1
        prefix: FieldPath = () if item.line is not None else ("instructions", item.position)
        try:
            if item.raw is not None:
                spec = InstructionSpec.model_validate_json(item.raw)
            else:
                spec = InstructionSpec.model_validate(item.value)
        except ValidationError as error:
            self._fail(details_from_pydantic(error.errors(), line=item.line, prefix=prefix))
            return None
        problem = unstorable(spec.model_dump())
        if problem is not None:
            self._fail(
                [
                    ErrorDetail(
                        line=item.line,
                        field=field_path([*prefix, *problem[0]]) or None,
                        message=problem[1],
                    )
                ]
            )
            return None
        code = self._language_code(spec.language)
        if code is None:
            self._fail(
                [
                    ErrorDetail(
                        line=item.line,
                        field=field_path([*prefix, "language"]),
                        message=f"unknown language {spec.language!r}; see GET /v1/languages",
                    )
                ]
            )
            return None
        failure = solution_problem(spec, code)
        if failure is not None:
            field = field_path([*prefix, "solution"])
            self._fail([ErrorDetail(line=item.line, field=field, message=failure)])
            return None
        return spec if code == spec.language else spec.model_copy(update={"language": code})

    def valid(self, items: Iterable[Item]) -> Iterator[tuple[int, InstructionSpec]]:
        """``(position, spec)`` for each valid item until the first error; after that the
        remaining items are only validated, to report more errors at once."""
        for item in items:
            spec = self.check(item)
            if spec is not None and not self.errors:
                yield item.position, spec

    def raise_if_invalid(self) -> None:
        """Reject a submission with errors, or with no instruction at all."""
        if not self.seen:
            self.errors.append(ErrorDetail(field="instructions", message="no instructions given"))
        if self.errors:
            raise SubmissionInvalid(self.errors)


@dataclass
class Submission:
    """What arrived: the format, the header (JSONL only; JSON carries its own), the body."""

    body_format: BodyFormat
    body: HashingChunks
    header: SubmissionHeader | None
    idempotency_key: str | None
    key_id: int | None


@dataclass(frozen=True)
class Outcome:
    """The stored (or replayed) set and the duplicates its submission contained."""

    set_id: int
    duplicates: list[Duplicate]
    replayed: bool


def _replay(session: Session, submission: Submission) -> Outcome | None:
    """The earlier outcome for this idempotency key and body; 409 for another body."""
    assert submission.idempotency_key is not None
    earlier = find_by_idempotency_key(
        session, submission.idempotency_key, submitted_by_key_id=submission.key_id
    )
    if earlier is None:
        return None
    recorded = earlier.metadata_.get("submission", {})
    if recorded.get("sha256") != submission.body.hexdigest():
        raise ApiError(
            409,
            "this Idempotency-Key was already used for a different submission",
            code="idempotency_conflict",
        )
    duplicates = [Duplicate(position=p, duplicate_of=d) for p, d in recorded.get("duplicates", [])]
    return Outcome(set_id=earlier.id, duplicates=duplicates, replayed=True)


def _header_and_items(submission: Submission) -> tuple[SubmissionHeader, Iterable[Item]]:
    if submission.body_format == "json":
        return parse_json_submission(b"".join(submission.body))
    assert submission.header is not None
    return submission.header, jsonl_items(submission.body)


def stored_config(
    session: Session, spec: GenerationConfigSpec, registry: EndpointRegistry
) -> GenerationConfig:
    """The config row for a submitted config, once its endpoint and model are declared ones.

    No URL ever comes from a request: ``endpoint`` is a name the operator declared, and the
    model must be on that endpoint's allow-list. Otherwise 422 names the field.
    """
    try:
        resolved, endpoint = resolve_generation_config(spec, registry)
    except EndpointChoiceError as error:
        raise SubmissionInvalid(
            [ErrorDetail(field=f"generation_config.{error.field}", message=str(error))]
        ) from error
    return get_or_create_generation_config(session, resolved, backend=endpoint.kind)


def store_submission(
    factory: sessionmaker[Session], submission: Submission, registry: EndpointRegistry
) -> Outcome:
    """Validate and store a submission in one transaction (blocking: run it in a thread)."""
    if submission.idempotency_key is not None:
        with transaction(factory) as session:
            replayed = _replay(session, submission)
        if replayed is not None:
            return replayed
    try:
        with transaction(factory) as session:
            header, items = _header_and_items(submission)
            config = stored_config(session, header.generation_config, registry)
            validator = InstructionValidator()
            created = create_instruction_set(
                session,
                name=header.name,
                config=config,
                instructions=validator.valid(items),
                idempotency_key=submission.idempotency_key,
                submitted_by_key_id=submission.key_id,
            )
            validator.raise_if_invalid()
            created.instruction_set.metadata_ = {
                "submission": {
                    "sha256": submission.body.hexdigest(),
                    "duplicates": [[d.position, d.duplicate_of] for d in created.duplicates],
                }
            }
            return Outcome(
                set_id=created.instruction_set.id, duplicates=created.duplicates, replayed=False
            )
    except Conflict as conflict:
        # A concurrent request with the same key committed first: answer as its replay.
        if conflict.constraint != IDEMPOTENCY_CONSTRAINT:
            raise
        with transaction(factory) as session:
            replayed = _replay(session, submission)
        if replayed is None:
            raise
        return replayed
