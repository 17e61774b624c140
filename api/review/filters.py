"""The queue filters as they travel through URLs and forms, parsed strictly.

Reviewers move from sequence to sequence inside one filtered queue, so the filters ride along
on every link and form of the sequence page; ``QueueParams.query`` is that canonical form.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlencode

from api.review.errors import DashboardError
from api.review.params import optional_whole_number
from api.routes.sequences import MAX_ROUNDS_FILTER
from reflectseq.quality.flags import Flag
from reflectseq.storable import unstorable
from reflectseq.store.reviews import QueueFilter

FIELDS = ("set", "language", "final_pass", "min_rounds", "max_rounds", "flag", "q")
MAX_SEARCH_CHARS = 200


@dataclass(frozen=True)
class QueueParams:
    """Filters parsed from a request, and the same filters as a query string."""

    filters: QueueFilter
    values: dict[str, str]

    @property
    def query(self) -> str:
        return urlencode(self.values)

    def url(self, path: str, **extra: Any) -> str:
        """``path`` with these filters (and ``extra`` parameters) as its query string."""
        values = {**self.values, **{k: str(v) for k, v in extra.items() if v is not None}}
        return f"{path}?{urlencode(values)}" if values else path


def parse_filters(source: Mapping[str, Any]) -> QueueParams:
    """Filters from query parameters or form fields; empty fields mean "any"."""
    stripped = {name: str(source.get(name) or "").strip() for name in FIELDS}
    values = {name: value for name, value in stripped.items() if value}
    for name, value in values.items():
        found = unstorable(value)
        if found is not None:
            raise DashboardError(400, f"Filter '{name}' {found[1]}.")
    final_pass = values.get("final_pass")
    if final_pass not in (None, "yes", "no"):
        raise DashboardError(400, "Filter 'final_pass' must be 'yes', 'no' or empty.")
    flag = values.get("flag")
    if flag is not None and flag not in {f.value for f in Flag}:
        raise DashboardError(400, f"Filter 'flag' must be one of {', '.join(Flag)}.")
    search = values.get("q")
    if search is not None and len(search) > MAX_SEARCH_CHARS:
        raise DashboardError(400, f"Search 'q' must be at most {MAX_SEARCH_CHARS} characters.")
    filters = QueueFilter(
        instruction_set_id=optional_whole_number("set", values.get("set")),
        language=values.get("language"),
        final_pass=None if final_pass is None else final_pass == "yes",
        min_rounds=optional_whole_number(
            "min_rounds", values.get("min_rounds"), maximum=MAX_ROUNDS_FILTER
        ),
        max_rounds=optional_whole_number(
            "max_rounds", values.get("max_rounds"), maximum=MAX_ROUNDS_FILTER
        ),
        flag=Flag(flag) if flag else None,
        search=search,
    )
    return QueueParams(filters=filters, values=values)


def filters_from_query_string(query: str) -> QueueParams:
    """Filters a form carried along as a query string (a hidden ``filters`` field)."""
    return parse_filters(dict(parse_qsl(query, keep_blank_values=False)))
