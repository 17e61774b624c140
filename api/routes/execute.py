"""``/v1/execute``: run code in the sandbox (the dashboard's re-run button)."""

from __future__ import annotations

from fastapi import APIRouter

from api.auth import Reviewer
from api.errors import AUTH_RESPONSES
from reflectseq.sandbox import execute
from reflectseq.sandbox.models import ExecutionRequest, ExecutionResult

router = APIRouter(prefix="/v1/execute", tags=["execution"])


@router.post(
    "", response_model=ExecutionResult, responses=AUTH_RESPONSES, summary="Run code in the sandbox"
)
def execute_code(request: ExecutionRequest, _: Reviewer) -> ExecutionResult:
    """Runs the code with the language's limits (or tighter ones given here) and no network.

    A plain `def` route: FastAPI runs it in its thread pool, as the sandbox call blocks.
    Unknown languages fail validation (422 on `language`); aliases like `python` are accepted.
    """
    return execute(request)
