"""Any OpenAI-compatible chat endpoint (OpenAI, vLLM, SGLang, Ollama, llama.cpp server, ...).

Uses the official SDK for the wire format but does its own retrying (the SDK's is switched
off): every attempt must pass the shared rate limiter again, and the delays must follow the
deployment's backoff settings rather than the SDK's fixed ones. Every retry is logged with its
reason.

Answers are streamed (``streaming``): a request is given up when its first token or its next
chunk is late, not when the whole answer is, and giving up closes the stream so the server stops
generating. Requests run on the process's event loop (``event_loop``); the calling thread waits.
How many are in flight at once is found per endpoint by ``adaptive.AdaptiveConcurrency``, which
429s, timeouts and a growing time to first token turn down.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from typing import Any

import httpx
import openai
from openai.types.chat import ChatCompletion, ChatCompletionChunk

from reflectseq.llm import event_loop
from reflectseq.llm.adaptive import AdaptiveConcurrency, Permit
from reflectseq.llm.base import (
    ChatMessage,
    Completion,
    ContextOverflow,
    LlmError,
    LlmRejected,
    Sampling,
)
from reflectseq.llm.overflow import context_overflow
from reflectseq.llm.pricing import PriceTable
from reflectseq.llm.ratelimit import RateLimiter, UnlimitedRateLimiter
from reflectseq.llm.retry import RetryPolicy, retry_after_seconds
from reflectseq.llm.streaming import Deadlines, Stalled, Streamed, read_stream

# A withheld answer is not an answer, even though the HTTP call succeeded. An answer cut off at
# max_tokens ("length") is returned as it is: the caller continues it or keeps it cut off.
WITHHELD_FINISH_REASONS = frozenset({"content_filter"})
log = logging.getLogger(__name__)
CHARS_PER_TOKEN = 4  # rough estimate for reserving token budget before the real count is known
CONNECT_TIMEOUT_S = 30.0
# Answers that say the server has more work than it can take: fewer requests in flight.
OVERLOAD_STATUSES = frozenset({429, 503})
_REJECTING = (openai.AuthenticationError, openai.PermissionDeniedError, openai.NotFoundError)
_TRANSIENT = (
    openai.RateLimitError,
    openai.InternalServerError,
    openai.APITimeoutError,
    openai.APIConnectionError,
    openai.ConflictError,
)
log = logging.getLogger(__name__)


def _error_body(error: openai.APIError) -> dict[str, Any]:
    body = error.body if isinstance(error.body, dict) else {"body": error.body}
    status = getattr(error, "status_code", None)
    return {"status_code": status, "error": body, "message": str(error)}


def _what_happened(error: openai.APIError) -> str:
    """The failure in our words: an HTTP status or a transport class, never the remote body.

    Error texts reach every reader of a sequence; a remote body could carry anything (an
    internal service's page, a reflected secret), so it is kept only in the raw call record.
    """
    if isinstance(error, openai.APIStatusError):
        return f"HTTP {error.status_code}"
    if isinstance(error, openai.APITimeoutError):
        return "timed out"
    if isinstance(error, openai.APIConnectionError):
        return "the connection failed"
    return "answered unreadably"


def _overload_reason(error: openai.APIError) -> str | None:
    """Why this failure says the server is overloaded, or None when it does not."""
    if isinstance(error, openai.APIStatusError) and error.status_code in OVERLOAD_STATUSES:
        return f"HTTP {error.status_code}"
    if isinstance(error, openai.APITimeoutError):
        return "timed out"
    return None


class OpenAIBackend:
    """Chat completions against one endpoint and model."""

    def __init__(
        self,
        *,
        model: str,
        endpoint_name: str = "default",
        base_url: str | None = None,
        api_key: str = "",
        deadlines: Deadlines | None = None,
        extra_headers: dict[str, str] | None = None,
        retry: RetryPolicy | None = None,
        limiter: RateLimiter | None = None,
        concurrency: AdaptiveConcurrency | None = None,
        prices: PriceTable | None = None,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
    ) -> None:
        self._model = model
        self._endpoint = endpoint_name
        self._client = openai.AsyncOpenAI(
            base_url=base_url or None,
            # Self-hosted servers accept any key, but the SDK insists on one being set.
            api_key=api_key or "unused",
            # Only connecting has a timeout of its own; the stream's deadlines cover the rest.
            timeout=openai.Timeout(None, connect=CONNECT_TIMEOUT_S),
            max_retries=0,
            default_headers=extra_headers or {},
        )
        self._deadlines = deadlines or Deadlines()
        self._retry = retry or RetryPolicy()
        self._limiter = limiter or UnlimitedRateLimiter()
        self._concurrency = concurrency or AdaptiveConcurrency(endpoint_name)
        self._prices = prices or PriceTable()
        self._sleep = sleep
        self._rng = rng or random.Random()

    @property
    def model(self) -> str:
        """The model name sent with every request."""
        return self._model

    def complete(self, messages: list[ChatMessage], sampling: Sampling) -> Completion:
        """One answer, retrying transient failures; raises ``LlmError`` / ``LlmRejected``."""
        prompt = sum(len(message["content"]) for message in messages) // CHARS_PER_TOKEN
        estimate = prompt + sampling.max_tokens
        retry = timeouts = 0
        while True:
            try:
                return self._attempt(messages, sampling, estimate)
            except LlmError as error:
                timeouts += error.timed_out
                if not error.transient or retry >= self._retry.max_retries:
                    if timeouts:
                        self._charge_timeouts(error, prompt * timeouts)
                    raise
                delay = self._retry.delay(retry, error.retry_after_s, self._rng)
                retry += 1
                log.warning(
                    "retry %d of %d in %.1f s: %s", retry, self._retry.max_retries, delay, error
                )
                self._sleep(delay)

    def _charge_timeouts(self, error: LlmError, prompt_tokens: int) -> None:
        """Estimate what the timed-out attempts cost: their prompts, read but not answered."""
        usage = {"prompt_tokens": prompt_tokens, "completion_tokens": 0, "estimated": True}
        error.raw = {**(error.raw or {}), "usage": usage}
        error.cost = self._prices.cost(self._model, prompt_tokens, 0)

    def _transient(self, error: openai.APIError) -> LlmError:
        """A retryable failure, with the server's Retry-After when it sent one."""
        message = f"endpoint {self._endpoint!r} failed transiently ({_what_happened(error)})"
        if isinstance(error, openai.APIStatusError):
            return LlmError(
                message,
                transient=True,
                raw=_error_body(error),
                retry_after_s=retry_after_seconds(dict(error.response.headers)),
            )
        return LlmError(
            message, transient=True, timed_out=isinstance(error, openai.APITimeoutError)
        )

    def _refused(self, error: openai.APIError) -> LlmError:
        """A request the endpoint will not serve as asked; a too-long prompt says so apart."""
        body = _error_body(error)
        overflow = context_overflow(error.body, error.message)
        if overflow is None:
            return LlmError(
                f"endpoint {self._endpoint!r} refused the request ({_what_happened(error)})",
                transient=False,
                raw=body,
            )
        window = f" of {overflow.context_tokens} tokens" if overflow.context_tokens else ""
        return ContextOverflow(
            f"endpoint {self._endpoint!r} refused the request ({_what_happened(error)}): "
            f"the prompt does not fit the model's context{window}",
            context_tokens=overflow.context_tokens,
            prompt_tokens=overflow.prompt_tokens,
            raw=body,
        )

    async def _stream(
        self, messages: list[ChatMessage], sampling: Sampling, permit: Permit
    ) -> Streamed:
        body = {
            "model": self._model,
            "messages": messages,
            "temperature": sampling.temperature,
            "top_p": sampling.top_p,
            "max_tokens": sampling.max_tokens,
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        if sampling.seed is not None:
            body["seed"] = sampling.seed
        # The SDK's documented custom request: the body is sent as built here (already in the
        # wire format), which spares the typed parameters' per-call transformation, a third of
        # the SDK's CPU per request; errors and the stream are the SDK's as with ``create``.
        return await read_stream(
            lambda: self._client.post(
                "/chat/completions",
                cast_to=ChatCompletion,
                body=body,
                stream=True,
                stream_cls=openai.AsyncStream[ChatCompletionChunk],
            ),
            self._deadlines,
            permit.first_token,
        )

    def _failed(self, error: Exception, permit: Permit) -> LlmError:
        """The ``LlmError`` of a failed attempt; an overloaded server lowers the limit."""
        if isinstance(error, Stalled):
            permit.overloaded(str(error))
            return LlmError(
                f"endpoint {self._endpoint!r} failed transiently ({error})", transient=True
            )
        if isinstance(error, _REJECTING):
            return LlmRejected(
                f"endpoint {self._endpoint!r} rejected the call ({_what_happened(error)})",
                raw=_error_body(error),
            )
        if isinstance(error, _TRANSIENT):
            reason = _overload_reason(error)
            if reason is not None:
                permit.overloaded(reason)
            return self._transient(error)
        if isinstance(error, openai.APIStatusError):
            return self._refused(error)
        # An error event inside the stream, or (older SDKs) the connection lost reading it.
        return LlmError(
            f"endpoint {self._endpoint!r} failed transiently (the stream broke off)",
            transient=True,
        )

    def _attempt(
        self, messages: list[ChatMessage], sampling: Sampling, estimate: int
    ) -> Completion:
        with self._concurrency.acquire() as permit, self._limiter.acquire(estimate) as lease:
            started = time.perf_counter()
            try:
                streamed = event_loop.run(self._stream(messages, sampling, permit))
            except (Stalled, openai.APIError, httpx.HTTPError) as error:
                lease.settle(0)
                raise self._failed(error, permit) from error
            latency = time.perf_counter() - started
            usage = streamed.usage
            tokens_in = usage.prompt_tokens if usage else 0
            tokens_out = usage.completion_tokens if usage else 0
            lease.settle(tokens_in + tokens_out)
            raw = streamed.raw()
            if streamed.finish_reason is None:
                raise LlmError(
                    f"endpoint {self._endpoint!r} ended the stream without finishing the answer",
                    transient=True,
                    raw=raw,
                )
            permit.succeeded()
        finish_reason = streamed.finish_reason
        if finish_reason in WITHHELD_FINISH_REASONS:
            raise LlmError(
                f"the answer was withheld (finish_reason={finish_reason})", transient=False, raw=raw
            )
        return Completion(
            text=streamed.text,
            model=streamed.model or self._model,
            finish_reason=finish_reason,
            tokens_in=tokens_in,
            tokens_out=tokens_out,
            cost=self._prices.cost(self._model, tokens_in, tokens_out),
            latency_s=latency,
            raw=raw,
        )
