"""The sequence page and its review actions: accept, reject, draft, release the claim."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from api.deps import AppSettings, SessionFactory
from api.review.errors import DashboardError
from api.review.filters import QueueParams, filters_from_query_string, parse_filters
from api.review.pages import render
from api.review.params import RowId
from api.review.sessions import CurrentLogin, Login, PostingLogin
from api.review.views import build_sequence_page
from reflectseq.db.base import utcnow
from reflectseq.db.models import Review, User
from reflectseq.db.session import transaction
from reflectseq.enums import ReviewStatus
from reflectseq.store.claims import ClaimRules, release_claim
from reflectseq.store.errors import InvalidState, NotFound, StoreError
from reflectseq.store.reviews import REJECT_REASONS, InvalidDecision, decide, next_review

router = APIRouter()

_VERDICTS = {
    "accept": ReviewStatus.ACCEPTED,
    "reject": ReviewStatus.REJECTED,
    "draft": ReviewStatus.DRAFT,
}
_HTTP_STATUS = {NotFound: 404, InvalidState: 409}
# Fields of the decision form whose problems are shown beside them, keeping what was typed.
_FORM_FIELDS = frozenset({"reason", "comment"})


def as_page_error(error: StoreError) -> DashboardError:
    """A store error as the page shows it (404 for unknown rows, 400 for bad input, else 409)."""
    status = next((code for kind, code in _HTTP_STATUS.items() if isinstance(error, kind)), 409)
    if getattr(error, "field", None) is not None:
        status = 400
    return DashboardError(status, str(error))


def sequence_url(sequence_id: int, params: QueueParams, anchor: str = "", **extra: object) -> str:
    return params.url(f"/review/sequences/{sequence_id}", **extra) + (
        f"#{anchor}" if anchor else ""
    )


def _others_holding(session: Session, sequence_id: int, login: Login, overlap: int) -> str:
    """Who holds every review slot of the sequence besides this reviewer ('' when one is free)."""
    names = session.scalars(
        select(User.username)
        .join(Review, Review.reviewer_id == User.id)
        .where(Review.sequence_id == sequence_id, Review.reviewer_id != login.user_id)
        .order_by(Review.id)
    ).all()
    return ", ".join(names) if len(names) >= overlap else ""


def _sequence_response(
    request: Request,
    *,
    factory: SessionFactory,
    settings: AppSettings,
    login: Login,
    sequence_id: int,
    params: QueueParams,
    status_code: int = 200,
    **context: Any,
) -> HTMLResponse:
    """The sequence page; ``context`` adds to (or overrides) what the template gets."""
    rules = ClaimRules.of(settings)
    with transaction(factory) as session:
        try:
            page = build_sequence_page(
                session, sequence_id, collapse_rounds=request.query_params.get("rounds") != "all"
            )
        except NotFound as error:
            raise as_page_error(error) from error
        mine = next((r.review for r in page.reviews if r.review.reviewer_id == login.user_id), None)
        held_by_others = "" if mine else _others_holding(session, sequence_id, login, rules.overlap)
    reviews = page.reviews if login.is_admin else [r for r in page.reviews if r.review == mine]
    expires = rules.expires_at(mine) if mine else None
    return render(
        request,
        "sequence.html",
        login,
        status_code=status_code,
        page=page,
        params=params,
        mine=mine,
        reviews=reviews,
        reasons=REJECT_REASONS,
        claim_expires=expires,
        claim_expired=expires is not None and expires <= utcnow(),
        held_by_others=held_by_others,
        done=request.query_params.get("done"),
        verdict=request.query_params.get("verdict"),
        **{"form_errors": {}, "typed": None, **context},
    )


@router.get("/sequences/{sequence_id}", name="sequence")
def sequence_page(
    request: Request,
    sequence_id: RowId,
    factory: SessionFactory,
    settings: AppSettings,
    login: CurrentLogin,
) -> Response:
    """One sequence, block by block, with the reviewer's decision panel."""
    params = parse_filters(request.query_params)
    return _sequence_response(
        request,
        factory=factory,
        settings=settings,
        login=login,
        sequence_id=sequence_id,
        params=params,
    )


def _next_after(
    factory: SessionFactory, settings: AppSettings, login: Login, params: QueueParams, after: int
) -> str:
    """Where to go once a sequence is decided: the next one of the queue, or the queue."""
    with transaction(factory) as session:
        review = next_review(
            session,
            reviewer_id=login.user_id,
            rules=ClaimRules.of(settings),
            filters=params.filters,
            after_sequence_id=after,
        )
        target = review.sequence_id if review is not None else None
    if target is None:
        return params.url("/review/", empty=1)
    return params.url(f"/review/sequences/{target}")


@router.post("/sequences/{sequence_id}/decision", name="decide")
def decide_sequence(
    request: Request,
    sequence_id: RowId,
    *,
    factory: SessionFactory,
    settings: AppSettings,
    login: PostingLogin,
    action: Annotated[str, Form()],
    reason: Annotated[str, Form(max_length=64)] = "",
    comment: Annotated[str, Form(max_length=10_000)] = "",
    filters: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    """Accept or reject (then move on to the next sequence), or save a draft (and stay).

    A reason or comment the store refuses brings the page back with the problem beside its
    field and the form as it was typed (400), rather than an error page that loses it.
    """
    params = filters_from_query_string(filters)
    status = _VERDICTS.get(action)
    if status is None:
        raise DashboardError(400, f"action must be one of {', '.join(_VERDICTS)}")
    try:
        with transaction(factory) as session:
            decide(
                session,
                sequence_id=sequence_id,
                reviewer_id=login.user_id,
                status=status,
                rules=ClaimRules.of(settings),
                reason=reason,
                comment=comment,
            )
    except InvalidDecision as error:
        if error.field not in _FORM_FIELDS:
            raise as_page_error(error) from error
        return _sequence_response(
            request,
            factory=factory,
            settings=settings,
            login=login,
            sequence_id=sequence_id,
            params=params,
            status_code=400,
            form_errors={error.field: error.problem},
            typed={"reason": reason, "comment": comment},
        )
    except StoreError as error:
        raise as_page_error(error) from error
    if status == ReviewStatus.DRAFT:
        target = sequence_url(sequence_id, params, done=sequence_id, verdict=status.value)
    else:
        target = _next_after(factory, settings, login, params, sequence_id)
        target += ("&" if "?" in target else "?") + f"done={sequence_id}&verdict={status.value}"
    return RedirectResponse(target, status_code=303)


@router.post("/sequences/{sequence_id}/release", name="release")
def release_sequence(
    sequence_id: RowId,
    *,
    factory: SessionFactory,
    login: PostingLogin,
    filters: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    """Give one's claim (or draft) of a sequence back to the queue, and return to the queue."""
    params = filters_from_query_string(filters)
    try:
        with transaction(factory) as session:
            release_claim(session, sequence_id=sequence_id, reviewer_id=login.user_id)
    except StoreError as error:
        raise as_page_error(error) from error
    return RedirectResponse(params.url("/review/", released=sequence_id), status_code=303)
