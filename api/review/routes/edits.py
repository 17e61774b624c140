"""Editing blocks from the sequence page: the edit form on demand, saving, re-running.

The form is served per block (a fragment the page's script inserts, or a page of its own
without scripts) instead of a hidden copy of every block's text in the sequence page.

Saving an edit reopens the sequence for review (``reflectseq.store.edited``). An edited final
answer is re-verified at once, the way the loop verified the original: its code in the task's
language is extracted and run with the task's tests, and the verdict becomes the sequence's
``final_pass``. Code blocks are re-run on request.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from api.deps import SessionFactory
from api.errors import ApiError
from api.interactive import Budget, InteractiveBudget
from api.review.errors import DashboardError
from api.review.filters import filters_from_query_string, parse_filters
from api.review.pages import render
from api.review.params import RowId
from api.review.rerun import rerun, runnable_language
from api.review.routes.sequence import as_page_error, sequence_url
from api.review.sessions import CurrentLogin, Login, PostingLogin
from api.review.views import edit_form_view
from reflectseq.db.models import Block
from reflectseq.db.session import transaction
from reflectseq.enums import BlockKind
from reflectseq.languages import resolve_language
from reflectseq.parsing import answer_code
from reflectseq.store.edited import is_final_answer, record_answer_verdict
from reflectseq.store.errors import StoreError
from reflectseq.store.reviews import edit_block, get_edit, record_rerun

router = APIRouter()
MAX_BLOCK_CHARS = 200_000


@router.get("/sequences/{sequence_id}/blocks/{block_id}/edit", name="edit_form")
def edit_form(
    request: Request,
    sequence_id: RowId,
    block_id: RowId,
    factory: SessionFactory,
    login: CurrentLogin,
) -> Response:
    """The edit form of one block: a fragment with ``fragment=1``, else a page of its own."""
    params = parse_filters(request.query_params)
    try:
        with transaction(factory) as session:
            form = edit_form_view(session, sequence_id=sequence_id, block_id=block_id)
            template = "_edit_form.html" if request.query_params.get("fragment") else "edit.html"
            return render(request, template, login, form=form, params=params)
    except StoreError as error:
        raise as_page_error(error) from error


def _language_to_rerun(block: Block) -> str:
    """The sandbox language of a block, or a 400 page when the sandbox has none for it."""
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

    For the final answer that code is the block the loop would have run from the answer's
    text; an answer without one is stored as not verifiable (and fails). Re-runs draw on the
    same interactive budget as ``/v1/execute``, per user: over it the page says so (429) and
    nothing runs; a just-saved edit stays saved (an edited answer stays unverified).
    """
    with transaction(factory) as session:
        edit = get_edit(session, sequence_id=sequence_id, edit_id=edit_id)
        language = _language_to_rerun(edit.block)
        tests = edit.block.message.sequence.instruction.tests
        code: str | None = edit.content
        if is_final_answer(edit.block):
            code = answer_code(edit.content, resolve_language(language).fence_words)
            if code is None:
                record_answer_verdict(
                    session,
                    edit=edit,
                    actor_id=login.user_id,
                    result=None,
                    unverifiable=f"The answer has no {language} code block to run.",
                )
                return
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
    """Save a new version of a block; re-verify an edited final answer, re-run code on request."""
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
            edit_id = edit.id
            runs = is_final_answer(edit.block) or (
                bool(rerun_after) and edit.block.kind == BlockKind.CODE
            )
            if runs:
                _language_to_rerun(edit.block)  # refused here, the edit is rolled back
        if runs:
            _rerun_and_store(factory, budget, login, sequence_id, edit_id)
    except StoreError as error:
        raise as_page_error(error) from error
    return RedirectResponse(sequence_url(sequence_id, params, f"block-{block_id}"), 303)


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
    """Execute the code of an existing edit again (after a sandbox hiccup, or a refused run)."""
    params = filters_from_query_string(filters)
    try:
        with transaction(factory) as session:
            block_id = get_edit(session, sequence_id=sequence_id, edit_id=edit_id).block_id
        _rerun_and_store(factory, budget, login, sequence_id, edit_id)
    except StoreError as error:
        raise as_page_error(error) from error
    return RedirectResponse(sequence_url(sequence_id, params, f"block-{block_id}"), 303)
