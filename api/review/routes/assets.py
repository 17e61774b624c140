"""The highlighting stylesheet, generated from Pygments so it always matches its HTML classes."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response

from api.review.highlight import stylesheet

router = APIRouter()


@router.get("/highlight.css", name="highlight_css")
def highlight_css() -> Response:
    return Response(
        stylesheet(),
        media_type="text/css",
        headers={"Cache-Control": "public, max-age=86400"},
    )
