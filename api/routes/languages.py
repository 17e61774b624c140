"""``/v1/languages``: the sandbox's language table."""

from __future__ import annotations

from fastapi import APIRouter

from api.auth import Reviewer
from api.errors import AUTH_RESPONSES
from api.schemas import LanguageOut
from reflectseq.languages import load_languages

router = APIRouter(prefix="/v1/languages", tags=["languages"])


@router.get(
    "", response_model=list[LanguageOut], responses=AUTH_RESPONSES, summary="List languages"
)
def list_languages(_: Reviewer) -> list[LanguageOut]:
    """Every language instructions may use, with the aliases a submission may give."""
    return [LanguageOut.model_validate(language) for language in load_languages().values()]
