"""Numbers and ids from the dashboard's URLs and forms, parsed strictly.

``str.isdigit`` accepts '²' and other Unicode digits that ``int`` then refuses, and an id beyond
the 64-bit columns makes the database raise: both used to end as server errors. Here anything but
ASCII digits within the column's range is a 400 page that names the parameter.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Path

from api.pagination import MAX_ID
from api.review.errors import DashboardError

# A row id in a dashboard path; FastAPI refuses others before the handler runs (a 400 page).
RowId = Annotated[int, Path(ge=1, le=MAX_ID)]


def whole_number(name: str, value: str, *, maximum: int = MAX_ID) -> int:
    """``value`` as a number from 0 to ``maximum``; a 400 page naming ``name`` otherwise."""
    # The length check comes first: int() raises on strings of thousands of digits.
    fits = len(value) <= len(str(maximum)) and value.isascii() and value.isdigit()
    if not fits or int(value) > maximum:
        raise DashboardError(400, f"'{name}' must be a whole number from 0 to {maximum}.")
    return int(value)


def optional_whole_number(name: str, value: str | None, *, maximum: int = MAX_ID) -> int | None:
    """Like ``whole_number``, with an absent or empty value meaning None."""
    return whole_number(name, value, maximum=maximum) if value else None
