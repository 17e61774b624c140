"""The API's door to the workers (``workers.dispatch``): enqueue, cancel and retry sets.

The worker package (and with it Celery and the broker client) is imported on first use, so
read-only API processes and the OpenAPI build never load it.
"""

from __future__ import annotations


def enqueue_instruction_set(set_id: int) -> int:
    """Hand a committed set's pending sequences to the workers; how many were queued."""
    from workers.dispatch import enqueue_instruction_set as enqueue

    return int(enqueue(set_id))


def cancel_instruction_set(set_id: int) -> int:
    """Cancel a set's unfinished sequences; how many were cancelled."""
    from workers.dispatch import cancel_instruction_set as cancel

    return int(cancel(set_id))


def retry_failed(set_id: int) -> int:
    """Queue a set's failed sequences again; how many were queued."""
    from workers.dispatch import retry_failed as retry

    return int(retry(set_id))
