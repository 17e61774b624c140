"""Repository functions shared by the API, the workers and the exports.

Each function takes a ``Session`` and leaves committing to the caller's unit of work
(``reflectseq.db.session.transaction``), so that a request or a loop step is all-or-nothing.
"""

from reflectseq.store.errors import Conflict, InvalidState, NotFound, StoreError

__all__ = ["Conflict", "InvalidState", "NotFound", "StoreError"]
