"""A streamed chat completion, read with stall deadlines instead of one whole-request timeout.

A whole-request timeout cannot tell a slow answer from a dead one, and counts the time a request
waits in the server's queue against it: against a one-slot server a request times out because
the one before it was long. Streaming tells them apart. The first token may take
``first_token_s`` (the server's queue plus reading the prompt); after it, no ``stall_s`` may
pass without a chunk. A request that misses either is given up and its stream closed, which
makes the server stop generating for it (vLLM, SGLang and llama.cpp abort a request whose
client disconnected); a whole-request timeout on a non-streamed request leaves the server
generating an answer nobody will read.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

from openai.types.chat import ChatCompletionChunk
from openai.types.completion_usage import CompletionUsage

FIRST_TOKEN_S = 600.0
STALL_S = 60.0


@dataclass(frozen=True)
class Deadlines:
    """How long a stream may stay silent: before its first token, and between chunks."""

    first_token_s: float = FIRST_TOKEN_S
    stall_s: float = STALL_S


class Stalled(Exception):
    """The stream missed a deadline and was closed."""


@dataclass
class Streamed:
    """What a stream said, gathered into the shape of a non-streamed completion."""

    text_parts: list[str] = field(default_factory=list)
    finish_reason: str | None = None
    model: str = ""
    response_id: str = ""
    created: int = 0
    usage: CompletionUsage | None = None
    first_token_s: float | None = None

    @property
    def text(self) -> str:
        """The answer's text."""
        return "".join(self.text_parts)

    def add(self, chunk: ChatCompletionChunk) -> bool:
        """Take one chunk in; True when it carried a token (or the end of the answer)."""
        self.model = chunk.model or self.model
        self.response_id = chunk.id or self.response_id
        self.created = chunk.created or self.created
        if chunk.usage is not None:
            self.usage = chunk.usage
        token = False
        for choice in chunk.choices[:1]:
            if choice.delta.content:
                self.text_parts.append(choice.delta.content)
                token = True
            if choice.finish_reason is not None:
                self.finish_reason = choice.finish_reason
                token = True
        return token

    def raw(self) -> dict[str, Any]:
        """The answer as a ``chat.completion`` document, for the call record."""
        return {
            "id": self.response_id,
            "object": "chat.completion",
            "created": self.created,
            "model": self.model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": self.text},
                    "finish_reason": self.finish_reason,
                }
            ],
            "usage": self.usage.model_dump(mode="json") if self.usage else None,
            "streamed": True,
        }


async def read_stream(
    open_stream: Callable[[], Any],
    deadlines: Deadlines,
    on_first_token: Callable[[float], None],
) -> Streamed:
    """Open the stream (``open_stream()`` gives an ``AsyncStream`` of chunks) and read it whole.

    ``Stalled`` when a deadline passes; the stream is closed on every way out. ``on_first_token``
    is told how long the first token took.
    """
    loop = asyncio.get_running_loop()
    started = loop.time()
    streamed = Streamed()
    guard = asyncio.timeout(deadlines.first_token_s)
    try:
        async with guard:
            stream = await open_stream()
            async with stream:  # leaving it closes the connection: the server stops generating
                chunks: AsyncIterator[ChatCompletionChunk] = stream.__aiter__()
                async for chunk in chunks:
                    if streamed.add(chunk) and streamed.first_token_s is None:
                        streamed.first_token_s = loop.time() - started
                        on_first_token(streamed.first_token_s)
                    if streamed.first_token_s is not None:
                        guard.reschedule(loop.time() + deadlines.stall_s)
    except TimeoutError as error:
        if not guard.expired():
            raise
        if streamed.first_token_s is None:
            raise Stalled(f"no first token within {deadlines.first_token_s:g} s") from error
        raise Stalled(f"no token for {deadlines.stall_s:g} s") from error
    return streamed
