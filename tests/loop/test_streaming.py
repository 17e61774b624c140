"""Streamed answers: a silent stream is given up, closed (the server stops) and retried, logged."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import pytest

from reflectseq.llm.adaptive import AdaptiveConcurrency
from reflectseq.llm.base import ChatMessage, Sampling
from reflectseq.llm.openai_backend import OpenAIBackend
from reflectseq.llm.retry import RetryPolicy
from reflectseq.llm.streaming import Deadlines
from tests.loop.llm_server import ScriptedLlm, answer

ANSWER = "Here is the answer."


def _backend(server: ScriptedLlm, limiter: AdaptiveConcurrency | None = None) -> OpenAIBackend:
    return OpenAIBackend(
        model="scripted",
        base_url=server.base_url,
        deadlines=Deadlines(first_token_s=1.0, stall_s=1.0),
        retry=RetryPolicy(max_retries=2, base_s=0.01, max_s=0.05),
        concurrency=limiter,
    )


def _ask(key: str) -> list[ChatMessage]:
    return [{"role": "user", "content": f"Answer. {key}"}]


def _eventually(probe: Callable[[], bool]) -> None:
    """Poll ``probe()`` for up to 30 s (the server notices a closed stream when it next writes)."""
    deadline = time.monotonic() + 30
    while not probe():
        assert time.monotonic() < deadline, "the server kept working on the abandoned stream"
        time.sleep(0.1)


def test_a_stream_that_stalls_is_closed_and_retried_with_the_reason_logged(
    llm_server: ScriptedLlm, key: str, caplog: pytest.LogCaptureFixture
) -> None:
    abandoned = llm_server.abandoned
    llm_server.script(key, [answer(ANSWER, stall_s=10), answer(ANSWER)])
    limiter = AdaptiveConcurrency("scripted", initial=4)
    with caplog.at_level(logging.WARNING, logger="reflectseq.llm.openai_backend"):
        completion = _backend(llm_server, limiter).complete(_ask(key), Sampling())

    assert completion.text == ANSWER
    assert completion.raw["streamed"] is True and completion.tokens_out == 20
    assert len(llm_server.requests_for(key)) == 2
    (retry,) = [r.getMessage() for r in caplog.records]
    assert "retry 1 of 2" in retry and "no token for 1 s" in retry
    assert limiter.limit == 2  # a stall is a sign of overload
    _eventually(lambda: llm_server.abandoned > abandoned)


def test_a_first_token_that_never_comes_is_given_up_and_retried(
    llm_server: ScriptedLlm, key: str, caplog: pytest.LogCaptureFixture
) -> None:
    llm_server.script(key, [answer(ANSWER, delay_s=10), answer(ANSWER)])
    with caplog.at_level(logging.WARNING, logger="reflectseq.llm.openai_backend"):
        completion = _backend(llm_server).complete(_ask(key), Sampling())

    assert completion.text == ANSWER
    (retry,) = [r.getMessage() for r in caplog.records]
    assert "no first token within 1 s" in retry
