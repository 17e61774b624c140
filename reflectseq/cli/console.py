"""The commands' stderr console, made on first use.

``rich.console`` costs every command's start some 20 ms to import; most commands (``sandbox
run``, ``version``) never print through it, so none of them imports it up front.
"""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.console import Console


@lru_cache(maxsize=1)
def console() -> Console:
    """The console that progress and errors go to (stderr, so stdout stays the data)."""
    from rich.console import Console

    return Console(stderr=True)
