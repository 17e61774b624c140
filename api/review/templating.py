"""The Jinja2 environment of the dashboard: autoescaped templates and their helpers."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from fastapi.templating import Jinja2Templates

from api.review.bidi_markers import reveal_bidi
from api.review.output_size import describe_output

TEMPLATE_DIR = Path(__file__).parent / "templates"
STATIC_DIR = Path(__file__).parent / "static"

templates = Jinja2Templates(directory=TEMPLATE_DIR)


def _when(value: datetime | None) -> str:
    """Timestamps in UTC to the second: reviewers across time zones read the same log."""
    return value.strftime("%Y-%m-%d %H:%M:%S UTC") if value is not None else ""


def _seconds(value: float | None) -> str:
    return f"{value:.3f} s" if value is not None else "n/a"


templates.env.filters["when"] = _when
templates.env.filters["seconds"] = _seconds
templates.env.filters["bidi"] = reveal_bidi
templates.env.filters["output_size"] = describe_output
