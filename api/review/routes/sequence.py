"""The sequence page and its actions: accept, reject, draft, edit a block, re-run an edit."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from api.deps import AppSettings, SessionFactory
from api.errors import ApiError
from api.interactive import Budget, InteractiveBudget
from api.review.errors import DashboardError
from api.review.filters import QueueParams, filters_from_query_string, parse_filters
from api.review.pages import render
from api.review.params import RowId
from api.review.rerun import rerun, runnable_language
from api.review.sessions import CurrentLogin, Login, PostingLogin
from api.review.views import build_sequence_page
from reflectseq.db.models import Block
from reflectseq.db.session import transaction
from reflectseq.enums import BlockKind, ReviewStatus
from reflectseq.store.errors import InvalidState, NotFound, StoreError
from reflectseq.store.reviews import (
    REJECT_REASONS,
    decide,
    edit_block,
    find_review,
    get_edit,
    next_review,
    record_rerun,
)

router = APIRouter()
MAX_BLOCK_CHARS = 200_000

_VERDICTS = {
    "accept": ReviewStatus.ACCEPTED,
    "reject": ReviewStatus.REJECTED,
    "draft": ReviewStatus.DRAFT,
}
_HTTP_STATUS = {NotFound: 404, InvalidState: 409}


def _as_page_error(error: StoreError) -> DashboardError:
    """A store error as the page shows it (404 for unknown rows, 400 for bad input)."""
    status = next((code for kind, code in _HTTP_STATUS.items() if isinstance(error, kind)), 409)
    if getattr(error, "field", None) is not None:
        status = 400
    return DashboardError(status, str(error))


def _sequence_url(sequence_id: int, params: QueueParams, anchor: str = "", **extra: object) -> str:
    return params.url(f"/review/sequences/{sequence_id}", **extra) + (
        f"#{anchor}" if anchor else ""
    )


@router.get("/sequences/{sequence_id}", name="sequence")
def sequence_page(
    request: Request, sequence_id: RowId, factory: SessionFactory, login: CurrentLogin
) -> Response:
    """One sequence, block by block, with the reviewer's decision panel."""
    params = parse_filters(request.query_params)
    with transaction(factory) as session:
        try:
            page = build_sequence_page(session, sequence_id)
        except NotFound as error:
            raise _as_page_error(error) from error
        mine = find_review(session, sequence_id=sequence_id, reviewer_id=login.user_id)
    reviews = page.reviews if login.is_admin else [r for r in page.reviews if r.review == mine]
    return render(
        request,
        "sequence.html",
        login,
        page=page,
        params=params,
        mine=mine,
        reviews=reviews,
        reasons=REJECT_REASONS,
        done=request.query_params.get("done"),
        verdict=request.query_params.get("verdict"),
    )


def _next_after(
    factory: SessionFactory, settings: AppSettings, login: Login, params: QueueParams, after: int
) -> str:
    """Where to go once a sequence is decided: the next one of the queue, or the queue."""
    with transaction(factory) as session:
        review = next_review(
            session,
            reviewer_id=login.user_id,
            overlap=settings.review_overlap,
            filters=params.filters,
            after_sequence_id=after,
        )
        target = review.sequence_id if review is not None else None
    if target is None:
        return params.url("/review/", empty=1)
    return params.url(f"/review/sequences/{target}")


@router.post("/sequences/{sequence_id}/decision", name="decide")
def decide_sequence(
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
    """Accept or reject (then move on to the next sequence), or save a draft (and stay)."""
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
                reason=reason,
                comment=comment,
            )
    except StoreError as error:
        raise _as_page_error(error) from error
    if status == ReviewStatus.DRAFT:
        target = _sequence_url(sequence_id, params, done=sequence_id, verdict=status.value)
    else:
        target = _next_after(factory, settings, login, params, sequence_id)
        target += ("&" if "?" in target else "?") + f"done={sequence_id}&verdict={status.value}"
    return RedirectResponse(target, status_code=303)


def _language_to_rerun(block: Block) -> str:
    """The sandbox language of a code block, or a 400 page when the sandbox has none for it."""
    language = runnable_language(block)
    if language is None:
        raise DashboardError(
            400,
            f"This block's code ({block.language or block.message.sequence.language}) is not in a "
            "language the sandbox runs, so it cannot be re-run.",
        )
    return language


def _rerun_and_store(
    factory: SessionFactory, budget: InteractiveBudget, login: Login, sequence_id: int, edit_id: int
) -> None:
    """Run an edit's code (outside any transaction: it takes seconds) and store the verdict.

    Re-runs draw on the same interactive budget as ``/v1/execute``, per user: over it the page
    says so (429) and nothing runs; a just-saved edit stays saved.
    """
    with transaction(factory) as session:
        edit = get_edit(session, sequence_id=sequence_id, edit_id=edit_id)
        language = _language_to_rerun(edit.block)
        tests = edit.block.message.sequence.instruction.tests
        code = edit.content
    try:
        with budget.admit(f"user-{login.user_id}"):
            result = rerun(code, language=language, tests=tests)
    except ApiError as refused:
        wait = (refused.headers or {}).get("Retry-After", "a few")
        raise DashboardError(
            refused.status, f"Not re-run: {refused.message}; try again in {wait} s."
        ) from refused
    with transaction(factory) as session:
        record_rerun(
            session, sequence_id=sequence_id, edit_id=edit_id, actor_id=login.user_id, result=result
        )


@router.post("/sequences/{sequence_id}/blocks/{block_id}/edits", name="edit_block")
def edit_block_route(
    sequence_id: RowId,
    block_id: RowId,
    *,
    factory: SessionFactory,
    budget: Budget,
    login: PostingLogin,
    content: Annotated[str, Form(max_length=MAX_BLOCK_CHARS)],
    note: Annotated[str, Form(max_length=500)] = "",
    rerun_after: Annotated[str, Form(alias="rerun")] = "",
    filters: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    """Save a new version of a block; "Save and re-run" also executes an edited code block."""
    params = filters_from_query_string(filters)
    content = content.replace("\r\n", "\n")  # browsers send CRLF line ends from textareas
    try:
        with transaction(factory) as session:
            edit = edit_block(
                session,
                sequence_id=sequence_id,
                block_id=block_id,
                content=content,
                editor_id=login.user_id,
                note=note,
            )
            edit_id, is_code = edit.id, edit.block.kind == BlockKind.CODE
            if rerun_after and is_code:
                _language_to_rerun(edit.block)  # refused here, the edit is rolled back
        if rerun_after and is_code:
            _rerun_and_store(factory, budget, login, sequence_id, edit_id)
    except StoreError as error:
        raise _as_page_error(error) from error
    return RedirectResponse(_sequence_url(sequence_id, params, f"block-{block_id}"), 303)


@router.post("/sequences/{sequence_id}/edits/{edit_id}/rerun", name="rerun_edit")
def rerun_edit(
    sequence_id: RowId,
    edit_id: RowId,
    *,
    factory: SessionFactory,
    budget: Budget,
    login: PostingLogin,
    filters: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    """Execute the code of an existing edit again (say, after a sandbox hiccup)."""
    params = filters_from_query_string(filters)
    try:
        with transaction(factory) as session:
            block_id = get_edit(session, sequence_id=sequence_id, edit_id=edit_id).block_id
        _rerun_and_store(factory, budget, login, sequence_id, edit_id)
    except StoreError as error:
        raise _as_page_error(error) from error
    return RedirectResponse(_sequence_url(sequence_id, params, f"block-{block_id}"), 303)
