"""A scripted OpenAI-compatible chat server: the one stand-in the test suite allows for an LLM.

Tests start it on a free port and give it scripts: for requests whose conversation contains a
key (a marker in the task text), a queue of replies: canned completions, HTTP errors with
headers (429 + Retry-After, 500), or delays. The last reply of a queue repeats, so "500 forever"
is a one-element script. Every request is logged for assertions.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse


@dataclass(frozen=True)
class Reply:
    """One scripted answer."""

    text: str = ""
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    finish_reason: str = "stop"
    delay_s: float = 0.0
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


class ScriptedLlm:
    """The server and its scripts."""

    def __init__(self) -> None:
        self._scripts: dict[str, deque[Reply]] = {}
        self._lock = threading.Lock()
        self.requests: list[dict[str, Any]] = []
        self.authorizations: list[str] = []  # the Authorization header of each request
        self.app = FastAPI()
        self.app.post("/v1/chat/completions")(self._complete)
        self._server: uvicorn.Server | None = None
        self.port = 0

    @property
    def base_url(self) -> str:
        """The URL to configure as the OpenAI base URL."""
        return f"http://127.0.0.1:{self.port}/v1"

    def script(self, key: str, replies: list[Reply]) -> None:
        """Answer conversations containing ``key`` with ``replies`` in order (the last repeats)."""
        with self._lock:
            self._scripts[key] = deque(replies)

    def requests_for(self, key: str) -> list[dict[str, Any]]:
        """The logged requests whose conversation contains ``key``."""
        return [r for r in self.requests if key in _conversation(r)]

    def _next(self, body: dict[str, Any]) -> Reply:
        conversation = _conversation(body)
        with self._lock:
            self.requests.append(body)
            for key, queue in self._scripts.items():
                if key in conversation:
                    return queue.popleft() if len(queue) > 1 else queue[0]
        return Reply(status=404, headers={})

    async def _complete(self, request: Request) -> JSONResponse:
        body = await request.json()
        self.authorizations.append(request.headers.get("authorization", ""))
        reply = self._next(body)
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


def _conversation(body: dict[str, Any]) -> str:
    return "\n".join(str(m.get("content", "")) for m in body.get("messages", []))
