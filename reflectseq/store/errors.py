"""Domain errors of the store layer, and the translation of database integrity errors into them.

Callers (API handlers, workers, the CLI) catch these and never see driver exceptions: an API
turns ``Conflict`` into 409 and ``NotFound`` into 404, a worker treats ``Conflict`` on a block it
already wrote as "this step was done before".
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import UniqueConstraint
from sqlalchemy.exc import IntegrityError

from reflectseq.db.base import Base


class StoreError(Exception):
    """Base of every error the store raises on purpose."""


class NotFound(StoreError):
    """The addressed row does not exist."""

    def __init__(self, entity: str, key: object) -> None:
        super().__init__(f"{entity} {key} not found")
        self.entity = entity
        self.key = key


class Conflict(StoreError):
    """A write would break a uniqueness rule (a duplicate) or a reference (a dangling id)."""

    def __init__(self, message: str, *, constraint: str | None = None) -> None:
        super().__init__(message)
        self.constraint = constraint


class InvalidState(StoreError):
    """The operation does not fit the row's current state (e.g. cancelling a finished set)."""


# Human descriptions of the uniqueness rules, keyed by constraint name.
_DUPLICATE_MESSAGES = {
    "uq_block_message_id_index": "a block with this index already exists in the message",
    "uq_message_sequence_id_index": "a message with this index already exists in the sequence",
    "uq_instruction_instruction_set_id_content_hash": "the instruction is a duplicate in its set",
    "uq_instruction_instruction_set_id_position": "an instruction already has this position",
    "uq_instruction_set_submitted_by_key_id_idempotency_key": (
        "an instruction set with this idempotency key exists for this API key"
    ),
    "uq_review_sequence_id_reviewer_id": "this reviewer has already reviewed the sequence",
    "uq_users_username": "a user with this username already exists",
    "uq_api_key_prefix": "an API key with this prefix already exists",
    "uq_sequence_instruction_id_generation_config_id_sample_index": (
        "this sample of the instruction already exists for the config"
    ),
}

_SQLITE_UNIQUE = re.compile(r"UNIQUE constraint failed: (?P<cols>[\w., ]+)")


def _unique_constraint_for_sqlite(message: str) -> str | None:
    """SQLite names the columns, not the constraint; find the constraint with those columns."""
    match = _SQLITE_UNIQUE.search(message)
    if not match:
        return None
    qualified = [part.strip() for part in match.group("cols").split(",")]
    table = qualified[0].split(".")[0]
    columns = {part.split(".")[1] for part in qualified}
    for constraint in Base.metadata.tables[table].constraints:
        if (
            isinstance(constraint, UniqueConstraint)
            and {c.name for c in constraint.columns} == columns
        ):
            return str(constraint.name)
    return None


def constraint_name(error: IntegrityError) -> str | None:
    """The violated constraint's name, from Postgres diagnostics or SQLite's message."""
    diag = getattr(error.orig, "diag", None)
    if diag is not None and getattr(diag, "constraint_name", None):
        return str(diag.constraint_name)
    return _unique_constraint_for_sqlite(str(error.orig))


def to_domain_error(error: IntegrityError) -> StoreError:
    """Describe an integrity error in domain terms."""
    name = constraint_name(error)
    if name in _DUPLICATE_MESSAGES:
        return Conflict(_DUPLICATE_MESSAGES[name], constraint=name)
    detail = str(error.orig).splitlines()[0]
    if "foreign key" in detail.lower():
        return Conflict(f"a referenced row does not exist ({detail})", constraint=name)
    return Conflict(f"the write breaks a database rule ({detail})", constraint=name)


@contextmanager
def domain_errors() -> Iterator[None]:
    """Re-raise integrity errors from the block as domain errors."""
    try:
        yield
    except IntegrityError as error:
        raise to_domain_error(error) from error
