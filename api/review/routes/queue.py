"""The queue: filter and search reviewable sequences, and take the next one to review."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from api.deps import AppSettings, SessionFactory
from api.review.filters import filters_from_query_string, parse_filters
from api.review.pages import render
from api.review.params import optional_whole_number
from api.review.sessions import CurrentLogin, PostingLogin
from api.review.views import FLAG_LABELS, raised_flags
from reflectseq.db.models import InstructionSet
from reflectseq.db.session import transaction
from reflectseq.store.claims import ClaimRules
from reflectseq.store.reviews import (
    next_review,
    open_reviews_of,
    review_summaries,
    reviewable_languages,
    search_sequences,
)

router = APIRouter()
PAGE_SIZE = 50


@router.get("/", name="queue")
def queue_page(request: Request, factory: SessionFactory, login: CurrentLogin) -> Response:
    """Filters, the reviewer's unfinished work, and a page of matching sequences."""
    params = parse_filters(request.query_params)
    after = optional_whole_number("after", request.query_params.get("after"))
    with transaction(factory) as session:
        rows, next_after = search_sequences(
            session, params.filters, after_id=after, limit=PAGE_SIZE
        )
        summaries = review_summaries(session, [s.id for s in rows], reviewer_id=login.user_id)
        set_names = {
            set_id: name
            for set_id, name in session.query(InstructionSet.id, InstructionSet.name).filter(
                InstructionSet.id.in_({s.instruction_set_id for s in rows})
            )
        }
        open_work = open_reviews_of(session, login.user_id)
        languages = reviewable_languages(session)
    return render(
        request,
        "queue.html",
        login,
        params=params,
        rows=rows,
        summaries=summaries,
        set_names=set_names,
        next_after=next_after,
        open_work=open_work,
        languages=languages,
        flag_labels=FLAG_LABELS,
        raised_flags=raised_flags,
        empty=request.query_params.get("empty") == "1",
        released=optional_whole_number("released", request.query_params.get("released")),
    )


@router.post("/next", name="next_sequence")
def take_next(
    factory: SessionFactory,
    settings: AppSettings,
    login: PostingLogin,
    filters: Annotated[str, Form(max_length=2000)] = "",
    after: Annotated[str, Form(max_length=20)] = "",
) -> Response:
    """Claim the next sequence of the filtered queue (after ``after``, wrapping) and open it."""
    params = filters_from_query_string(filters)
    with transaction(factory) as session:
        review = next_review(
            session,
            reviewer_id=login.user_id,
            rules=ClaimRules.of(settings),
            filters=params.filters,
            after_sequence_id=optional_whole_number("after", after),
        )
        target = review.sequence_id if review is not None else None
    if target is None:
        return RedirectResponse(params.url("/review/", empty=1), status_code=303)
    return RedirectResponse(params.url(f"/review/sequences/{target}"), status_code=303)
