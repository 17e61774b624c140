"""The one small interface every LLM backend implements, and the errors the loop reacts to.

The loop only needs "send these chat messages, get text back with its accounting"; everything
provider-specific (HTTP, retries, rate limits, model files) stays behind ``LlmBackend``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, TypedDict


class ChatMessage(TypedDict):
    """One chat turn in the OpenAI shape, which every backend accepts."""

    role: Literal["system", "user", "assistant"]
    content: str


@dataclass(frozen=True)
class Sampling:
    """Sampling parameters of a generation config."""

    temperature: float = 0.2
    top_p: float = 0.95
    max_tokens: int = 1024
    seed: int | None = None

    @classmethod
    def from_stored(cls, stored: dict[str, Any]) -> Sampling:
        """Read the ``sampling`` JSON of a stored generation config."""
        return cls(
            temperature=float(stored.get("temperature", cls.temperature)),
            top_p=float(stored.get("top_p", cls.top_p)),
            max_tokens=int(stored.get("max_tokens", cls.max_tokens)),
            seed=stored.get("seed"),
        )


@dataclass(frozen=True)
class Completion:
    """A successful answer with what it cost. ``raw`` is the provider's response, verbatim."""

    text: str
    model: str
    finish_reason: str
    tokens_in: int
    tokens_out: int
    cost: float
    latency_s: float
    raw: dict[str, Any] = field(default_factory=dict)


class LlmError(Exception):
    """A call failed. ``transient`` errors may succeed later; the others never will.

    ``raw`` keeps whatever the provider answered, so a failed call is recorded as faithfully as a
    successful one.
    """

    @property
    def endpoint_failing(self) -> bool:
        """Whether this says the endpoint is failing, not just this one request.

        Only such failures count towards the circuit breaker that stops a whole set: a transient
        error that outlived the retries (5xx, timeouts, unreachable), or a rejection
        (``LlmRejected``). A request the endpoint refuses for what it asked (HTTP 400, a prompt
        too long for the context, an answer withheld) says nothing about the next request.
        """
        return self.transient

    def __init__(
        self,
        message: str,
        *,
        transient: bool,
        raw: dict[str, Any] | None = None,
        retry_after_s: float | None = None,
        timed_out: bool = False,
    ) -> None:
        super().__init__(message)
        self.transient = transient
        self.raw = raw
        self.retry_after_s = retry_after_s
        # A timed-out request was still read (and billed) by the server; the backend estimates
        # what it cost (``raw["usage"]`` and ``cost``) so that the call is accounted.
        self.timed_out = timed_out
        self.cost = 0.0


class LlmRejected(LlmError):
    """The endpoint refuses every call of this kind (bad key, unknown model): stop the run early."""

    def __init__(self, message: str, *, raw: dict[str, Any] | None = None) -> None:
        super().__init__(message, transient=False, raw=raw)

    @property
    def endpoint_failing(self) -> bool:
        """Always: every other call would be refused the same way."""
        return True


class ContextOverflow(LlmError):
    """The prompt (plus the tokens asked for) does not fit the model's context window.

    ``context_tokens`` and ``prompt_tokens`` are what the server said, where it said it: the
    caller can shorten the conversation to fit and try again.
    """

    def __init__(
        self,
        message: str,
        *,
        context_tokens: int | None,
        prompt_tokens: int | None,
        raw: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message, transient=False, raw=raw)
        self.context_tokens = context_tokens
        self.prompt_tokens = prompt_tokens


class LlmBackend(Protocol):
    """Something that completes a chat."""

    @property
    def model(self) -> str:
        """The model name recorded with each call."""
        ...

    def complete(self, messages: list[ChatMessage], sampling: Sampling) -> Completion:
        """Answer the chat; raise ``LlmError`` on failure (after the backend's own retries)."""
        ...
