"""Streaming ingest of a submitted instruction set: parse, validate and store in one transaction.

The body is never held whole (except in the small JSON variants). Chunks are pulled from the
request stream into a worker thread, read there as JSONL lines, CSV rows or Parquet batches
(``reflectseq.ingest.records``; Parquet is spooled to a temporary file first, since its index
sits at the end), mapped and validated row by row (``reflectseq.ingest.checker``, the same code
``reflectseq run`` uses; a task's reference ``solution``, if given, is run against its tests in
the sandbox), and fed lazily to ``create_instruction_set``, which inserts in
batches. The database work is one transaction: a bad row rolls everything back, so an invalid
set stores nothing. Once the first error is seen, inserting stops but validation goes on, so
one answer lists up to ``MAX_REPORTED_ERRORS`` problems instead of making the user fix them
one round-trip at a time.

Idempotency: the SHA-256 of the submission is kept with the set. A retry with the same
``Idempotency-Key`` and the same body gets the first set back; the same key with another body
is a conflict.
"""

from __future__ import annotations

import hashlib
import tempfile
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from dataclasses import dataclass

import anyio.from_thread
from pydantic import ValidationError
from sqlalchemy.orm import Session, sessionmaker

from api.errors import ApiError, details_from_pydantic, field_path
from api.schemas import ErrorDetail, SubmissionHeader
from reflectseq.db.models import GenerationConfig
from reflectseq.db.session import transaction
from reflectseq.ingest.checker import InstructionChecker, InvalidInstructions, Problem
from reflectseq.ingest.mapping import FieldMapping
from reflectseq.ingest.records import (
    InputFormat,
    Record,
    csv_records,
    json_array_records,
    jsonl_records,
    parquet_records,
    parse_json,
)
from reflectseq.llm.endpoints import (
    EndpointChoiceError,
    EndpointRegistry,
    resolve_generation_config,
)
from reflectseq.specs import GenerationConfigSpec
from reflectseq.storable import unstorable
from reflectseq.store.errors import Conflict
from reflectseq.store.instruction_sets import (
    Duplicate,
    create_instruction_set,
    find_by_idempotency_key,
    get_or_create_generation_config,
)
from workers.prompts import UnknownPromptVersion, load_prompts

CHUNK_BYTES = 64 * 1024
MAX_REPORTED_ERRORS = 20
IDEMPOTENCY_CONSTRAINT = "uq_instruction_set_submitted_by_key_id_idempotency_key"
UNKNOWN_LANGUAGE_HINT = "; see GET /v1/languages"


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


def check_header(header: SubmissionHeader) -> None:
    """Refuse a header the database could not store."""
    problem = unstorable(header.model_dump())
    if problem is not None:
        raise SubmissionInvalid([ErrorDetail(field=field_path(problem[0]), message=problem[1])])


def detail_of(problem: Problem) -> ErrorDetail:
    """A checker's problem as the API reports it; JSON elements are named by their index."""
    record = problem.record
    in_array = record is not None and record.line is None and record.row is None
    prefix = ("instructions", record.position) if in_array and record is not None else ()
    return ErrorDetail(
        line=problem.line,
        row=problem.row,
        field=field_path([*prefix, *problem.field]) or None,
        message=problem.message,
    )


def parse_json_submission(body: bytes) -> tuple[SubmissionHeader, list[Record]]:
    """The JSON variant: ``{name, generation_config, instructions: [...]}``."""
    try:
        document = parse_json(body)
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
    return header, [Record(position=index, value=v) for index, v in enumerate(instructions)]


@dataclass
class Submission:
    """What arrived: the format, the header, the field mapping and the body.

    ``header`` comes from query parameters or form fields; it is None only for the JSON object
    form, which carries its own (a JSON body with a header is a bare array of instructions).
    """

    body_format: InputFormat
    body: HashingChunks
    header: SubmissionHeader | None
    idempotency_key: str | None
    key_id: int | None
    mapping: FieldMapping


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


def _spooled_parquet(chunks: Iterable[bytes]) -> Iterator[Record]:
    """Parquet rows of a streamed body, spooled to a temporary file (Parquet needs to seek)."""
    with tempfile.TemporaryFile() as spool:
        for chunk in chunks:
            spool.write(chunk)
        spool.seek(0)
        yield from parquet_records(spool)


def _header_and_records(submission: Submission) -> tuple[SubmissionHeader, Iterable[Record]]:
    body_format, body = submission.body_format, submission.body
    if submission.header is None:
        return parse_json_submission(b"".join(body))
    if body_format is InputFormat.JSON:
        records: Iterable[Record] = json_array_records(b"".join(body))
    elif body_format is InputFormat.CSV:
        records = csv_records(body)
    elif body_format is InputFormat.PARQUET:
        records = _spooled_parquet(body)
    else:
        records = jsonl_records(body)
    return submission.header, records


def stored_config(
    session: Session, spec: GenerationConfigSpec, registry: EndpointRegistry
) -> GenerationConfig:
    """The config row for a submitted config, once its endpoint and model are declared ones.

    No URL ever comes from a request: ``endpoint`` is a name the operator declared, and the
    model must be on that endpoint's allow-list. The prompt version must be one this
    installation ships, or every sequence of the set would fail when it starts. Otherwise 422
    names the field.
    """
    try:
        load_prompts(spec.prompt_version)
    except UnknownPromptVersion as error:
        raise SubmissionInvalid(
            [ErrorDetail(field="generation_config.prompt_version", message=str(error))]
        ) from error
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
            header, records = _header_and_records(submission)
            config = stored_config(session, header.generation_config, registry)
            checker = InstructionChecker(
                submission.mapping,
                max_problems=MAX_REPORTED_ERRORS,
                language_hint=UNKNOWN_LANGUAGE_HINT,
                check_solutions=True,
            )
            try:
                created = create_instruction_set(
                    session,
                    name=header.name,
                    config=config,
                    instructions=checker.valid(records),
                    idempotency_key=submission.idempotency_key,
                    submitted_by_key_id=submission.key_id,
                )
                checker.raise_if_invalid()
            except InvalidInstructions as error:
                raise SubmissionInvalid([detail_of(p) for p in error.problems]) from error
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
