"""Any OpenAI-compatible chat endpoint (OpenAI, vLLM, SGLang, Ollama, llama.cpp server, ...).

Uses the official SDK for the wire format but does its own retrying (the SDK's is switched
off): every attempt must pass the shared rate limiter again, and the delays must follow the
deployment's backoff settings rather than the SDK's fixed ones.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from typing import Any

import openai

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

# A withheld answer is not an answer, even though the HTTP call succeeded. An answer cut off at
# max_tokens ("length") is returned as it is: the caller continues it or keeps it cut off.
WITHHELD_FINISH_REASONS = frozenset({"content_filter"})
log = logging.getLogger(__name__)
CHARS_PER_TOKEN = 4  # rough estimate for reserving token budget before the real count is known
_REJECTING = (openai.AuthenticationError, openai.PermissionDeniedError, openai.NotFoundError)
_TRANSIENT = (
    openai.RateLimitError,
    openai.InternalServerError,
    openai.APITimeoutError,
    openai.APIConnectionError,
    openai.ConflictError,
)


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
        return "could not be reached"
    return "answered unreadably"


class OpenAIBackend:
    """Chat completions against one endpoint and model."""

    def __init__(
        self,
        *,
        model: str,
        endpoint_name: str = "default",
        base_url: str | None = None,
        api_key: str = "",
        timeout_s: float = 120.0,
        extra_headers: dict[str, str] | None = None,
        retry: RetryPolicy | None = None,
        limiter: RateLimiter | None = None,
        prices: PriceTable | None = None,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
    ) -> None:
        self._model = model
        self._endpoint = endpoint_name
        self._client = openai.OpenAI(
            base_url=base_url or None,
            # Self-hosted servers accept any key, but the SDK insists on one being set.
            api_key=api_key or "unused",
            timeout=timeout_s,
            max_retries=0,
            default_headers=extra_headers or {},
        )
        self._retry = retry or RetryPolicy()
        self._limiter = limiter or UnlimitedRateLimiter()
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
                log.warning(
                    "%s; retry %d of %d in %.1f s", error, retry + 1, self._retry.max_retries, delay
                )
                self._sleep(delay)
                retry += 1

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

    def _attempt(
        self, messages: list[ChatMessage], sampling: Sampling, estimate: int
    ) -> Completion:
        with self._limiter.acquire(estimate) as lease:
            started = time.perf_counter()
            try:
                response = self._client.chat.completions.create(
                    model=self._model,
                    messages=messages,  # type: ignore[arg-type]
                    temperature=sampling.temperature,
                    top_p=sampling.top_p,
                    max_tokens=sampling.max_tokens,
                    seed=sampling.seed,
                )
            except _REJECTING as error:
                lease.settle(0)
                raise LlmRejected(
                    f"endpoint {self._endpoint!r} rejected the call ({_what_happened(error)})",
                    raw=_error_body(error),
                ) from error
            except _TRANSIENT as error:
                lease.settle(0)
                raise self._transient(error) from error
            except openai.APIError as error:
                lease.settle(0)
                raise self._refused(error) from error
            latency = time.perf_counter() - started
            raw = response.model_dump(mode="json")
            usage = response.usage
            tokens_in = usage.prompt_tokens if usage else 0
            tokens_out = usage.completion_tokens if usage else 0
            lease.settle(tokens_in + tokens_out)
        if not response.choices:
            raise LlmError(
                f"endpoint {self._endpoint!r} answered without choices",
                transient=True,
                raw=raw,
            )
        choice = response.choices[0]
        finish_reason = choice.finish_reason or "stop"
        if finish_reason in WITHHELD_FINISH_REASONS:
            raise LlmError(
                f"the answer was withheld (finish_reason={finish_reason})", transient=False, raw=raw
            )
        return Completion(
            text=choice.message.content or "",
            model=response.model or self._model,
            finish_reason=finish_reason,
            tokens_in=tokens_in,
            tokens_out=tokens_out,
            cost=self._prices.cost(self._model, tokens_in, tokens_out),
            latency_s=latency,
            raw=raw,
        )
