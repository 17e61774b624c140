"""A scripted OpenAI-compatible chat server: the one stand-in the test suite allows for an LLM.

Tests start it on a free port and give it scripts: for requests whose conversation contains a
key (a marker in the task text), a queue of replies: canned completions (cut off at the token
limit with ``finish_reason="length"`` if asked), HTTP errors with headers (429 + Retry-After,
500), delays before the first token, or a stall after it. The last reply of a queue repeats, so
"500 forever" is a one-element script. Every request is logged for assertions.

Requests with ``"stream": true`` are answered as server-sent chunks, like the real servers: the
first token after the reply's delay, the rest after its stall. With ``slots`` the server serves
that many requests at once and queues the others (a one-slot llama.cpp server: the time to the
first token grows with the queue). A client that closes its stream stops the server's work on
it, as vLLM and llama.cpp do; such requests are counted in ``abandoned``.

A script may give the model a context window: a request whose prompt does not fit (the server
counts ``chars_per_token`` characters per token) is refused with HTTP 400 in the words of
llama.cpp's server, and uses up no reply. ``GET /v1/models`` lists the model, with vLLM's
``max_model_len`` when ``reported_context_tokens`` is set.
"""

from __future__ import annotations

import asyncio
import json
import math
import socket
import threading
import time
from collections import deque
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, StreamingResponse


@dataclass(frozen=True)
class Reply:
    """One scripted answer."""

    text: str = ""
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    finish_reason: str = "stop"
    delay_s: float = 0.0  # before the first token (after a free slot, with ``slots``)
    stall_s: float = 0.0  # after the first token of a streamed answer
    tokens_in: int = 50
    tokens_out: int = 20


def answer(text: str, **kwargs: Any) -> Reply:
    """A successful completion."""
    return Reply(text=text, **kwargs)


def error(status: int, message: str = "", **headers: str) -> Reply:
    """An HTTP error reply in the OpenAI error shape (``message`` is the remote's own text)."""
    return Reply(
        status=status, text=message, headers={k.replace("_", "-"): v for k, v in headers.items()}
    )


@dataclass(frozen=True)
class Window:
    """A scripted model's context: how many tokens, and how the server counts them."""

    context_tokens: int
    chars_per_token: float = 4.0

    def prompt_tokens(self, body: dict[str, Any]) -> int:
        """The request's prompt, in this server's tokens."""
        return math.ceil(len(_conversation(body)) / self.chars_per_token)


class ScriptedLlm:
    """The server and its scripts."""

    def __init__(self, *, slots: int | None = None) -> None:
        self._slots = asyncio.Semaphore(slots) if slots else None
        self.abandoned = 0  # streams the client closed before their end
        self.in_flight = 0  # requests being answered or queued now
        self.peak_in_flight = 0
        self._scripts: dict[str, deque[Reply]] = {}
        self._windows: dict[str, Window] = {}
        self._lock = threading.Lock()
        self.requests: list[dict[str, Any]] = []
        self.authorizations: list[str] = []  # the Authorization header of each request
        self.reported_context_tokens: int | None = None
        self.model_listings = 0  # how often GET /v1/models was asked
        self.app = FastAPI()
        self.app.post("/v1/chat/completions", response_model=None)(self._complete)
        self.app.get("/v1/models")(self._models)
        self._server: uvicorn.Server | None = None
        self.port = 0

    @property
    def base_url(self) -> str:
        """The URL to configure as the OpenAI base URL."""
        return f"http://127.0.0.1:{self.port}/v1"

    def script(self, key: str, replies: list[Reply], *, window: Window | None = None) -> None:
        """Answer conversations containing ``key`` with ``replies`` in order (the last repeats).

        With a ``window``, a prompt that does not fit it is refused as llama.cpp refuses it.
        """
        with self._lock:
            self._scripts[key] = deque(replies)
            if window is not None:
                self._windows[key] = window

    def requests_for(self, key: str) -> list[dict[str, Any]]:
        """The logged requests whose conversation contains ``key``."""
        return [r for r in self.requests if key in _conversation(r)]

    def _next(self, body: dict[str, Any]) -> Reply | JSONResponse:
        conversation = _conversation(body)
        with self._lock:
            self.requests.append(body)
            for key, queue in self._scripts.items():
                if key in conversation:
                    window = self._windows.get(key)
                    if window is not None and window.prompt_tokens(body) >= window.context_tokens:
                        return _exceeds_context(window.prompt_tokens(body), window.context_tokens)
                    return queue.popleft() if len(queue) > 1 else queue[0]
        return Reply(status=404, headers={})

    async def _models(self) -> dict[str, Any]:
        self.model_listings += 1
        model: dict[str, Any] = {"id": "scripted", "object": "model", "owned_by": "tests"}
        if self.reported_context_tokens is not None:
            model["max_model_len"] = self.reported_context_tokens
        return {"object": "list", "data": [model]}

    async def _complete(self, request: Request) -> JSONResponse | StreamingResponse:
        body = await request.json()
        self.authorizations.append(request.headers.get("authorization", ""))
        reply = self._next(body)
        if isinstance(reply, JSONResponse):
            return reply
        if reply.status == 200 and body.get("stream"):
            return StreamingResponse(self._stream(body, reply), media_type="text/event-stream")
        async with AsyncExitStack() as held:
            await self._serving(held)
            if reply.delay_s:
                await asyncio.sleep(reply.delay_s)
        if reply.status != 200:
            return JSONResponse(
                {
                    "error": {
                        "message": reply.text or f"scripted {reply.status}",
                        "type": "scripted",
                        "code": None,
                    }
                },
                status_code=reply.status,
                headers=reply.headers,
            )
        return JSONResponse(
            {
                "id": f"chatcmpl-{len(self.requests)}",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": body.get("model", "scripted"),
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": reply.text},
                        "finish_reason": reply.finish_reason,
                    }
                ],
                "usage": {
                    "prompt_tokens": reply.tokens_in,
                    "completion_tokens": reply.tokens_out,
                    "total_tokens": reply.tokens_in + reply.tokens_out,
                },
            }
        )

    async def _serving(self, held: AsyncExitStack) -> None:
        """Count the request in flight and wait for a slot (with ``slots``) until ``held`` ends."""
        self.in_flight += 1
        self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
        held.callback(self._leave)
        if self._slots is not None:
            await held.enter_async_context(self._slots)

    def _leave(self) -> None:
        self.in_flight -= 1

    async def _stream(self, body: dict[str, Any], reply: Reply) -> AsyncIterator[str]:
        """The reply as OpenAI stream chunks: the first token, then the rest, the end, usage."""
        finished = False
        try:
            async with AsyncExitStack() as held:
                await self._serving(held)
                await asyncio.sleep(reply.delay_s)
                head, tail = reply.text[:1], reply.text[1:]
                yield _chunk(body, {"role": "assistant", "content": head})
                await asyncio.sleep(reply.stall_s)
                if tail:
                    yield _chunk(body, {"content": tail})
                yield _chunk(body, {}, finish_reason=reply.finish_reason)
            if (body.get("stream_options") or {}).get("include_usage"):
                yield _chunk(body, None, usage=reply)
            yield "data: [DONE]\n\n"
            finished = True
        finally:
            if not finished:
                self.abandoned += 1

    def start(self) -> None:
        """Serve on a free port in a background thread; returns once it accepts connections."""
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        config = uvicorn.Config(
            self.app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="off"
        )
        self._server = uvicorn.Server(config)
        threading.Thread(target=self._server.run, daemon=True).start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("scripted LLM server did not start")
            time.sleep(0.01)

    def stop(self) -> None:
        """Shut the server down."""
        if self._server is not None:
            self._server.should_exit = True


def _exceeds_context(prompt_tokens: int, context_tokens: int) -> JSONResponse:
    """llama.cpp server's refusal of a prompt longer than its context (HTTP 400)."""
    return JSONResponse(
        {
            "error": {
                "code": 400,
                "message": f"request ({prompt_tokens} tokens) exceeds the available context "
                f"size ({context_tokens} tokens), try increasing it",
                "type": "exceed_context_size_error",
                "n_prompt_tokens": prompt_tokens,
                "n_ctx": context_tokens,
            }
        },
        status_code=400,
    )


def _chunk(
    body: dict[str, Any],
    delta: dict[str, Any] | None,
    *,
    finish_reason: str | None = None,
    usage: Reply | None = None,
) -> str:
    """One server-sent ``chat.completion.chunk`` event (no choice: the closing usage chunk)."""
    document: dict[str, Any] = {
        "id": "chatcmpl-stream",
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": body.get("model", "scripted"),
        "choices": []
        if delta is None
        else [{"index": 0, "delta": delta, "finish_reason": finish_reason}],
    }
    if usage is not None:
        document["usage"] = {
            "prompt_tokens": usage.tokens_in,
            "completion_tokens": usage.tokens_out,
            "total_tokens": usage.tokens_in + usage.tokens_out,
        }
    return f"data: {json.dumps(document)}\n\n"


def _conversation(body: dict[str, Any]) -> str:
    return "\n".join(str(m.get("content", "")) for m in body.get("messages", []))
