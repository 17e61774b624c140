"""One asyncio event loop per process, on a thread of its own, that carries every LLM request.

Hundreds of sequences of a worker wait on the model at once. Their requests are coroutines on
this loop (a socket each, not a thread each), and a request is given up by cancelling its
coroutine, which closes its stream and so tells the server to stop generating; a blocked
synchronous read could only be abandoned. The sequences themselves stay ordinary threads (the
database and the sandbox are synchronous): they hand a coroutine over and wait for its result.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")

_lock = threading.Lock()
_loop: asyncio.AbstractEventLoop | None = None
_owner_pid = 0


def _running_loop() -> asyncio.AbstractEventLoop:
    """This process's loop, started on first use (and again in a forked child)."""
    global _loop, _owner_pid  # noqa: PLW0603 - one loop per process, by design
    with _lock:
        if _loop is None or _owner_pid != os.getpid():
            _loop = asyncio.new_event_loop()
            _owner_pid = os.getpid()
            threading.Thread(target=_loop.run_forever, name="llm-event-loop", daemon=True).start()
        return _loop


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run ``coroutine`` on the process's loop and wait for its result (or its exception)."""
    return asyncio.run_coroutine_threadsafe(coroutine, _running_loop()).result()
