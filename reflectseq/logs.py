"""Logging for every reflectseq process: plain or JSON lines, tagged with set and sequence ids.

The ids come from context variables, so code deep inside the loop or the sandbox logs without
threading them through every call: ``with log_context(sequence_id=7): ...`` tags every record
made inside the block, in the current thread or asyncio task only.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from types import MappingProxyType

from pythonjsonlogger.json import JsonFormatter

# An immutable default: log_context always sets a new dict, never mutates the current one.
_context: ContextVar[Mapping[str, int | str]] = ContextVar(
    "reflectseq_log_context", default=MappingProxyType({})
)

PLAIN_FORMAT = "%(asctime)s %(levelname)s %(name)s%(context)s: %(message)s"


class ContextFilter(logging.Filter):
    """Copies the current log context onto each record (as attributes and as one string)."""

    def filter(self, record: logging.LogRecord) -> bool:
        context = _context.get()
        for name, value in context.items():
            setattr(record, name, value)
        record.context = "".join(f" [{key}={value}]" for key, value in context.items())
        return True


@contextmanager
def log_context(**fields: int | str | None) -> Iterator[None]:
    """Tag the records made inside the block with the given ids (None values are left out)."""
    merged = {**_context.get(), **{k: v for k, v in fields.items() if v is not None}}
    token = _context.set(merged)
    try:
        yield
    finally:
        _context.reset(token)


def configure_logging(level: str = "INFO", *, json: bool = False) -> None:
    """Install one stderr handler on the root logger (replacing earlier ones: idempotent)."""
    handler = logging.StreamHandler()
    handler.addFilter(ContextFilter())
    if json:
        handler.setFormatter(
            JsonFormatter(
                "%(asctime)s %(levelname)s %(name)s %(message)s",
                rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
                reserved_attrs=[*JsonFormatter().reserved_attrs, "context"],
            )
        )
    else:
        handler.setFormatter(logging.Formatter(PLAIN_FORMAT))
    root = logging.getLogger()
    for existing in list(root.handlers):
        root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(level)
