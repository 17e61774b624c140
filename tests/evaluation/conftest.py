"""Fixtures of the evaluation tests: a scripted endpoint that also serves raw completions."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import Request
from fastapi.responses import JSONResponse

from tests.loop.llm_server import Reply, ScriptedLlm


class ScriptedEndpoint(ScriptedLlm):
    """The loop's scripted chat server plus ``/v1/completions`` (special-token prompts).

    A completion request is routed like a chat whose only message is the prompt; its choices
    are ``n`` copies of the scripted reply, as a server sampling greedily would return.
    """

    def __init__(self) -> None:
        super().__init__()
        self.app.post("/v1/completions")(self._text_complete)

    async def _text_complete(self, request: Request) -> JSONResponse:
        body = await request.json()
        reply: Reply = self._next({**body, "messages": [{"content": body["prompt"]}]})
        if reply.status != 200:
            return JSONResponse({"error": {"message": "scripted"}}, status_code=reply.status)
        choices: list[dict[str, Any]] = [
            {"index": index, "text": reply.text, "finish_reason": "stop", "logprobs": None}
            for index in range(int(body.get("n") or 1))
        ]
        return JSONResponse(
            {
                "id": f"cmpl-{len(self.requests)}",
                "object": "text_completion",
                "created": int(time.time()),
                "model": body.get("model", "scripted"),
                "choices": choices,
            }
        )


@pytest.fixture(scope="session")
def endpoint() -> Iterator[ScriptedEndpoint]:
    """One scripted endpoint for the session; tests route by unique markers in task texts."""
    server = ScriptedEndpoint()
    server.start()
    yield server
    server.stop()
