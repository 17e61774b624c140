"""Opaque cursors for keyset pagination: the URL-safe base64 of the last id of a page."""

from __future__ import annotations

import base64
import binascii

from api.errors import ApiError
from api.schemas import ErrorDetail
from reflectseq.specs import MAX_ID

DEFAULT_LIMIT = 50
MAX_LIMIT = 500


def encode_cursor(last_id: int | None) -> str | None:
    """The cursor continuing after ``last_id`` (None on the last page)."""
    if last_id is None:
        return None
    return base64.urlsafe_b64encode(str(last_id).encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> int | None:
    """The id a cursor continues after; 422 naming ``cursor`` for anything not ours."""
    if cursor is None:
        return None
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("ascii")
        last_id = int(text)
        if not text.isdigit() or not 0 < last_id <= MAX_ID:
            raise ValueError(text)
    except (binascii.Error, UnicodeDecodeError, ValueError) as error:
        raise ApiError(
            422,
            "the cursor is not valid",
            details=[ErrorDetail(field="cursor", message="pass next_cursor of an earlier page")],
        ) from error
    return last_id
