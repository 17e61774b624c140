"""What JSON can carry but the database cannot store, found before a write instead of by it.

Postgres text and JSONB refuse NUL characters, UTF-8 cannot encode unpaired surrogates, and JSONB
has no NaN or infinity. Validating input with ``unstorable`` turns what would be a server error
deep inside an INSERT into a validation error that names the field.
"""

from __future__ import annotations

import math
from typing import Any

FieldPath = tuple[int | str, ...]


def unstorable(value: Any, path: FieldPath = ()) -> tuple[FieldPath, str] | None:
    """Where and why a JSON-like value cannot be stored, or None when it can."""
    if isinstance(value, str):
        if "\x00" in value:
            return path, "must not contain NUL characters"
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return path, "must not contain unpaired surrogates"
    elif isinstance(value, float) and not math.isfinite(value):
        return path, "must be a finite number"
    elif isinstance(value, dict):
        for key, item in value.items():
            found = unstorable(key, path) or unstorable(item, (*path, str(key)))
            if found is not None:
                return found
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            found = unstorable(item, (*path, index))
            if found is not None:
                return found
    return None


def require_storable(value: Any) -> Any:
    """``value`` unchanged, or ``ValueError`` naming the path of what cannot be stored.

    For ``mode="before"`` pydantic validators, whose errors are then reported on the field.
    """
    found = unstorable(value)
    if found is not None:
        path, reason = found
        where = ".".join(str(part) for part in path)
        raise ValueError(f"{where}: {reason}" if where else reason)
    return value
