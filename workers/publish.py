"""Sending many sequence tasks at once: one message per sequence, pushed in batches.

One ``apply_async`` per sequence costs a pooled connection, Celery's and kombu's per-message
machinery (routing, declaring, retry wrappers, two JSON encodings) and one Redis round trip:
100,000 sequences took minutes to queue. Here Celery and kombu build and encode one message the
ordinary way, captured instead of sent; every message is that one with its own task id, delivery
tag and argument, pushed to the queue's Redis list many at a time. What a worker receives is what
``apply_async`` would have sent (``bench/enqueue.py`` compares the two).

Messages of a batch that fails to send leave their sequences ``queued``; the reaper sends those
again once the queue has drained.
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import Any

from celery import Celery
from kombu.common import maybe_declare
from redis import Redis

BATCH = 5_000


@dataclass
class _Captured:
    """Stands in for kombu's Redis client while one message is published: keeps the push."""

    pushed: list[tuple[str, bytes | str]] = field(default_factory=list)

    def lpush(self, key: str, payload: bytes | str) -> None:
        self.pushed.append((key, payload))


# Stand-ins written into the template's JSON where each message has its own values.
_TASK_ID, _TAG, _ARGSREPR, _BODY = "@task-id@", "@delivery-tag@", "@argsrepr@", "@body@"


@dataclass(frozen=True)
class MessageTemplate:
    """The Redis list and the stored form of one task message, ready to be varied.

    ``text`` is the message as JSON with stand-ins for what differs per message, so that a
    message costs a few string replacements rather than an encoding of the whole envelope.
    """

    key: str
    text: str
    body: list[Any]

    @classmethod
    def of(cls, key: str, envelope: dict[str, Any]) -> MessageTemplate:
        """The template of a captured message."""
        body = json.loads(base64.b64decode(envelope["body"]))
        headers = {**envelope["headers"], "id": _TASK_ID, "root_id": _TASK_ID}
        properties = {**envelope["properties"], "correlation_id": _TASK_ID, "delivery_tag": _TAG}
        varied = {
            **envelope,
            "body": _BODY,
            "headers": {**headers, "argsrepr": _ARGSREPR},
            "properties": properties,
        }
        return cls(key, json.dumps(varied), body)

    def encode(self, argument: int) -> str:
        """The message for ``argument``: a fresh task id and delivery tag, its own body."""
        task_id = str(uuid.uuid4())
        body = json.dumps([[argument], *self.body[1:]]).encode()
        return (
            self.text.replace(_TASK_ID, task_id)
            .replace(_TAG, str(uuid.uuid4()))
            .replace(_ARGSREPR, repr([argument]))
            .replace(_BODY, base64.b64encode(body).decode())
        )


def capture_template(app: Celery, channel: Any, task_name: str, queue: str) -> MessageTemplate:
    """Publish one message through Celery and kombu onto a stand-in client and keep its form.

    Only a JSON body in base64 (kombu's Redis default) can be varied; anything else raises.
    """
    maybe_declare(app.amqp.queues[queue], channel)
    captured = _Captured()
    channel.conn_or_acquire = lambda client=None: nullcontext(captured)
    try:
        app.send_task(task_name, args=[0], queue=queue, producer=app.amqp.Producer(channel))
    finally:
        del channel.conn_or_acquire
    ((_, payload),) = captured.pushed
    envelope = json.loads(payload)
    properties = envelope["properties"]
    if envelope["content-type"] != "application/json" or properties["body_encoding"] != "base64":
        raise ValueError(f"cannot vary a {envelope['content-type']} message body")
    # The Redis list of a queue is named after it (kombu's Redis transport, priority 0), and the
    # workers read it by that name. The key kombu chose goes through the exchange's bindings as
    # the app's own broker connection sees them, which need not be this Redis's.
    return MessageTemplate.of(queue, envelope)


def publish_tasks(
    app: Celery, task_name: str, arguments: Sequence[int], *, queue: str, redis: Redis | None
) -> int:
    """Send one ``task_name`` message per argument to ``queue``; returns how many.

    ``redis`` is the broker's Redis; without it (another broker) the messages are sent one by
    one through Celery, on one channel.
    """
    with app.connection_for_write() as connection:
        channel = connection.default_channel
        if redis is None or connection.transport.driver_type != "redis":
            producer = app.amqp.Producer(channel)
            for argument in arguments:
                app.send_task(task_name, args=[argument], queue=queue, producer=producer)
            return len(arguments)
        template = capture_template(app, channel, task_name, queue)
    for start in range(0, len(arguments), BATCH):
        # One LPUSH per batch; a worker's BRPOP takes them in the order given.
        redis.lpush(template.key, *(template.encode(a) for a in arguments[start : start + BATCH]))
    return len(arguments)
