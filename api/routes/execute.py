"""``/v1/execute``: run code in the sandbox (the dashboard's re-run button)."""

from __future__ import annotations

from fastapi import APIRouter

from api.auth import Reviewer
from api.errors import AUTH_RESPONSES, ErrorResponse
from api.interactive import Budget
from reflectseq.sandbox import execute
from reflectseq.sandbox.models import ExecutionRequest, ExecutionResult

router = APIRouter(prefix="/v1/execute", tags=["execution"])


@router.post(
    "",
    response_model=ExecutionResult,
    responses={
        **AUTH_RESPONSES,
        429: {"model": ErrorResponse, "description": "Over the interactive budget (Retry-After)."},
    },
    summary="Run code in the sandbox",
)
def execute_code(request: ExecutionRequest, principal: Reviewer, budget: Budget) -> ExecutionResult:
    """Runs the code with the language's limits (or tighter ones given here) and no network.

    Limits looser than the language's defaults are refused (422 naming the field). Each key
    may start `sandbox_interactive_runs_per_minute` runs a minute, and all callers together
    hold at most `sandbox_interactive_concurrency` sandbox slots; over that the answer is 429
    with `Retry-After`, so interactive use never stalls generation.

    A plain `def` route: FastAPI runs it in its thread pool, as the sandbox call blocks.
    Unknown languages fail validation (422 on `language`); aliases like `python` are accepted.
    """
    budget.check_limits(request)
    with budget.admit(f"key-{principal.key_id}"):
        return execute(request)
