"""Which sequences an export takes: the validated request model and its translation to SQL.

Everything except the quality flags is decided in the database. Flags are applied while
streaming instead, because an excluded record must still be counted in the manifest (a flag
never drops a record silently) and because the flags document is JSON, which Postgres and SQLite
query differently.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any

from pydantic import AwareDatetime, BaseModel, BeforeValidator, ConfigDict, Field, model_validator
from sqlalchemy import ColumnElement, Select, Subquery, and_, case, func, or_, select

from reflectseq.db.models import GenerationConfig, Review, Sequence
from reflectseq.enums import ReviewFilter, ReviewStatus, SequenceStatus
from reflectseq.quality.flags import DEFAULT_EXCLUDED_FLAGS, Flag
from reflectseq.specs import MAX_ID, MAX_INT32
from reflectseq.storable import require_storable

RowId = Annotated[int, Field(ge=1, le=MAX_ID)]
RoundCount = Annotated[int, Field(ge=0, le=MAX_INT32)]


class ReviewVerdict(StrEnum):
    """The combined verdict of a sequence's reviews, as exports count it."""

    ACCEPTED = "accepted"
    REJECTED = "rejected"
    UNREVIEWED = "unreviewed"


class ExportFilters(BaseModel):
    """Which completed sequences go into an export. Empty lists mean "no restriction".

    Defaults suit training: only sequences whose one-off answer passed, none a reviewer rejected,
    none contaminated by a benchmark. Only ``completed`` sequences are ever exported: the others
    have no final answer yet.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    instruction_set_ids: list[RowId] = Field(default_factory=list, max_length=1000)
    languages: list[Annotated[str, BeforeValidator(require_storable)]] = Field(
        default_factory=list, max_length=100
    )
    final_pass: bool | None = Field(
        default=True, description="true: passed only; false: failed only; null: either."
    )
    review: ReviewFilter = ReviewFilter.NOT_REJECTED
    min_rounds: RoundCount | None = None
    max_rounds: RoundCount | None = None
    models: list[Annotated[str, BeforeValidator(require_storable)]] = Field(
        default_factory=list, max_length=100, description="Generator model names."
    )
    created_from: AwareDatetime | None = Field(
        default=None, description="Sequences created at or after this time."
    )
    created_to: AwareDatetime | None = Field(
        default=None, description="Sequences created before this time."
    )
    exclude_flags: list[Flag] = Field(
        default_factory=lambda: list(DEFAULT_EXCLUDED_FLAGS),
        description="Records raising any of these flags are left out (and counted).",
    )
    require_flags: list[Flag] = Field(
        default_factory=list, description="Only records raising all of these flags."
    )

    @model_validator(mode="after")
    def _consistent(self) -> ExportFilters:
        if (
            self.min_rounds is not None
            and self.max_rounds is not None
            and self.min_rounds > self.max_rounds
        ):
            raise ValueError("min_rounds must not exceed max_rounds")
        if self.created_from and self.created_to and self.created_from >= self.created_to:
            raise ValueError("created_from must be before created_to")
        both = set(self.exclude_flags) & set(self.require_flags)
        if both:
            raise ValueError(f"flags both excluded and required: {sorted(both)}")
        return self

    def keeps(self, raised: frozenset[Flag]) -> bool:
        """Whether a record raising ``raised`` passes the flag filters."""
        return raised.issuperset(self.require_flags) and raised.isdisjoint(self.exclude_flags)

    def excluding_flags(self, raised: frozenset[Flag]) -> list[Flag]:
        """The excluded flags a record raises (what the manifest counts it under)."""
        return sorted(raised.intersection(self.exclude_flags))


def _accepted_as_it_reads(verdicts: Subquery) -> ColumnElement[bool]:
    """An accept that stands: its latest accept is newer than the sequence's latest edit.

    An edit reopens a sequence's reviews as it is saved; this also holds where an accept and an
    edit raced, or the reviews were written around the dashboard.
    """
    return or_(Sequence.edited_at.is_(None), verdicts.c.accepted_at > Sequence.edited_at)


def selected_sequences(filters: ExportFilters) -> Select[Any]:
    """The completed sequences matching ``filters`` (flags aside), with their export columns.

    The review verdict comes from one grouped pass over ``review`` joined once, rather than a
    correlated subquery: the export reads every block row, and a subquery per row would dominate.
    """
    verdicts = (
        select(
            Review.sequence_id.label("sequence_id"),
            func.max(case((Review.status == ReviewStatus.REJECTED, 1), else_=0)).label("rejected"),
            func.max(case((Review.status == ReviewStatus.ACCEPTED, Review.decided_at))).label(
                "accepted_at"
            ),
        )
        .group_by(Review.sequence_id)
        .subquery("review_verdict")
    )
    accepted = and_(verdicts.c.accepted_at.is_not(None), _accepted_as_it_reads(verdicts))
    verdict = case(
        (verdicts.c.rejected == 1, ReviewVerdict.REJECTED.value),
        (accepted, ReviewVerdict.ACCEPTED.value),
        else_=ReviewVerdict.UNREVIEWED.value,
    ).label("review")
    query = (
        select(
            Sequence.id,
            Sequence.instruction_set_id,
            Sequence.instruction_id,
            Sequence.generation_config_id,
            Sequence.language,
            Sequence.final_pass,
            Sequence.rounds,
            verdict,
            Sequence.flags,
        )
        .outerjoin(verdicts, verdicts.c.sequence_id == Sequence.id)
        .where(Sequence.status == SequenceStatus.COMPLETED)
    )
    if filters.instruction_set_ids:
        query = query.where(Sequence.instruction_set_id.in_(filters.instruction_set_ids))
    if filters.languages:
        query = query.where(Sequence.language.in_(filters.languages))
    if filters.final_pass is not None:
        query = query.where(Sequence.final_pass.is_(filters.final_pass))
    if filters.review is ReviewFilter.ACCEPTED:
        query = query.where(accepted, func.coalesce(verdicts.c.rejected, 0) == 0)
    elif filters.review is ReviewFilter.NOT_REJECTED:
        query = query.where(func.coalesce(verdicts.c.rejected, 0) == 0)
    if filters.min_rounds is not None:
        query = query.where(Sequence.rounds >= filters.min_rounds)
    if filters.max_rounds is not None:
        query = query.where(Sequence.rounds <= filters.max_rounds)
    if filters.models:
        query = query.join(GenerationConfig).where(GenerationConfig.model.in_(filters.models))
    if filters.created_from is not None:
        query = query.where(Sequence.created_at >= filters.created_from)
    if filters.created_to is not None:
        query = query.where(Sequence.created_at < filters.created_to)
    return query
