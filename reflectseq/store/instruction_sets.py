"""Creating instruction sets (with their pending sequences) and reading them back."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from itertools import islice
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from reflectseq.db.models import GenerationConfig, Instruction, InstructionSet, Sequence
from reflectseq.enums import SequenceStatus
from reflectseq.specs import GenerationConfigSpec, InstructionSpec
from reflectseq.store.bulk import insert_returning_ids
from reflectseq.store.errors import NotFound, domain_errors, to_domain_error

INSERT_BATCH = 2_000


@dataclass(frozen=True)
class Duplicate:
    """An instruction left out because an earlier one in the same set has the same content."""

    position: int
    duplicate_of: int


@dataclass
class CreatedSet:
    """The outcome of a submission: the new set and the duplicates that were skipped."""

    instruction_set: InstructionSet
    duplicates: list[Duplicate] = field(default_factory=list)


def get_or_create_generation_config(
    session: Session, spec: GenerationConfigSpec, *, backend: str
) -> GenerationConfig:
    """The stored config equal to ``spec``, created on first use.

    ``spec`` must be resolved against the endpoint registry (endpoint and model named);
    ``backend`` is the kind of that endpoint, kept so a config says how it was generated.
    """
    if spec.endpoint is None or spec.model is None:
        raise ValueError("a generation config is stored only once its endpoint is resolved")
    config_hash = spec.config_hash()
    existing = session.scalar(
        select(GenerationConfig).where(GenerationConfig.config_hash == config_hash)
    )
    if existing is not None:
        return existing
    config = GenerationConfig(
        config_hash=config_hash,
        backend=backend,
        endpoint=spec.endpoint,
        model=spec.model,
        sampling=spec.sampling(),
        prompt_version=spec.prompt_version,
        max_rounds=spec.max_rounds,
        budget_tokens=spec.budget_tokens,
        budget_cost=spec.budget_cost,
        show_tests=spec.show_tests,
    )
    # A savepoint, so that a concurrent creator of the same config does not spoil the caller's
    # transaction: on conflict the winner's row is read instead.
    try:
        with session.begin_nested():
            session.add(config)
    except IntegrityError as error:
        winner = session.scalar(
            select(GenerationConfig).where(GenerationConfig.config_hash == config_hash)
        )
        if winner is None:
            raise to_domain_error(error) from error
        return winner
    return config


def find_by_idempotency_key(
    session: Session, key: str, *, submitted_by_key_id: int | None
) -> InstructionSet | None:
    """The set an earlier submission with this idempotency key created, if any.

    Keys are scoped to the API key that submitted (``None``: the operator's own command line),
    so one submitter can neither replay another's set nor block its key.
    """
    by_submitter = (
        InstructionSet.submitted_by_key_id.is_(None)
        if submitted_by_key_id is None
        else InstructionSet.submitted_by_key_id == submitted_by_key_id
    )
    return session.scalar(
        select(InstructionSet).where(InstructionSet.idempotency_key == key, by_submitter)
    )


def _batches(items: Iterable[Any], size: int) -> Iterator[list[Any]]:
    iterator = iter(items)
    while batch := list(islice(iterator, size)):
        yield batch


def create_instruction_set(
    session: Session,
    *,
    name: str,
    config: GenerationConfig,
    instructions: Iterable[tuple[int, InstructionSpec]],
    idempotency_key: str | None = None,
    submitted_by_key_id: int | None = None,
    metadata: dict[str, Any] | None = None,
) -> CreatedSet:
    """Store a set, its instructions and one pending sequence per instruction.

    ``instructions`` yields ``(position, spec)`` pairs and is consumed lazily in batches, so a
    100k-line upload never sits in memory as ORM objects. Positions are the caller's numbering
    (a JSONL line number, say) and are kept, so later messages can point back to the input.
    Instructions whose content hash was already seen in this set are skipped and reported.
    Nothing is committed here: the caller's transaction makes the whole set all-or-nothing.
    """
    instruction_set = InstructionSet(
        name=name,
        generation_config_id=config.id,
        idempotency_key=idempotency_key,
        submitted_by_key_id=submitted_by_key_id,
        metadata_=metadata or {},
    )
    with domain_errors():
        session.add(instruction_set)
        session.flush()
    seen: dict[str, int] = {}
    duplicates: list[Duplicate] = []
    stored = 0

    def fresh(pairs: Iterable[tuple[int, InstructionSpec]]) -> Iterator[dict[str, Any]]:
        for position, spec in pairs:
            content_hash = spec.content_hash()
            if content_hash in seen:
                duplicates.append(Duplicate(position=position, duplicate_of=seen[content_hash]))
                continue
            seen[content_hash] = position
            yield {
                "instruction_set_id": instruction_set.id,
                "position": position,
                "text": spec.text,
                "language": spec.language,
                "tests": spec.tests,
                "entry_point": spec.entry_point,
                "metadata_": spec.metadata,
                "content_hash": content_hash,
            }

    with domain_errors():
        for rows in _batches(fresh(instructions), INSERT_BATCH):
            instruction_ids = insert_returning_ids(session, Instruction, rows)
            insert_returning_ids(
                session,
                Sequence,
                [
                    {
                        "instruction_id": instruction_id,
                        "instruction_set_id": instruction_set.id,
                        "generation_config_id": config.id,
                        "language": row["language"],
                        "status": SequenceStatus.PENDING,
                    }
                    for instruction_id, row in zip(instruction_ids, rows, strict=True)
                ],
            )
            stored += len(rows)
        instruction_set.instruction_count = stored
        instruction_set.duplicate_count = len(duplicates)
        session.flush()
    return CreatedSet(instruction_set=instruction_set, duplicates=duplicates)


def get_instruction_set(session: Session, set_id: int) -> InstructionSet:
    """The set with this id, or ``NotFound``."""
    instruction_set = session.get(InstructionSet, set_id)
    if instruction_set is None:
        raise NotFound("instruction set", set_id)
    return instruction_set
