"""Answers longer than ``max_tokens``: continued in further calls, else kept as cut off.

A cut-off answer (``finish_reason == "length"``) is not a failed call: the model was still
writing. The partial answer goes back as an assistant turn with a request to go on, and the
parts are joined into one answer with one account (tokens, cost and time added up, every raw
response kept). After ``max_continuations`` more calls, or when a continuation cannot be sent
(the prompt would not fit, the endpoint refuses it), the answer is returned as far as it got,
still marked ``length``: the caller records it cut off rather than losing it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from reflectseq.llm.base import ChatMessage, Completion, LlmBackend, LlmError, Sampling
from reflectseq.parsing import join_continuation

CUT_OFF = "length"
log = logging.getLogger(__name__)


def joined(parts: list[Completion], *, error: str | None = None) -> Completion:
    """One completion made of consecutive parts of an answer."""
    last = parts[-1]
    if len(parts) == 1 and error is None:
        return last
    raw: dict[str, object] = {"continued": [part.raw for part in parts]}
    if error is not None:
        raw["continuation_error"] = error
    text = parts[0].text
    for part in parts[1:]:
        text = join_continuation(text, part.text)
    return Completion(
        text=text,
        model=last.model,
        finish_reason=CUT_OFF if error is not None else last.finish_reason,
        tokens_in=sum(part.tokens_in for part in parts),
        tokens_out=sum(part.tokens_out for part in parts),
        cost=sum(part.cost for part in parts),
        latency_s=sum(part.latency_s for part in parts),
        raw=raw,
    )


def continuation_request(
    messages: list[ChatMessage], answer_so_far: str, continue_prompt: str
) -> list[ChatMessage]:
    """The chat that asks the model to go on with its cut-off answer."""
    return [
        *messages,
        {"role": "assistant", "content": answer_so_far},
        {"role": "user", "content": continue_prompt},
    ]


def complete_answer(
    backend: LlmBackend,
    messages: list[ChatMessage],
    sampling: Sampling,
    *,
    max_continuations: int,
    continue_prompt: str | None,
    fits: Callable[[list[ChatMessage]], bool] | None = None,
    needs_more: Callable[[str], bool] | None = None,
) -> Completion:
    """The model's whole answer, continued up to ``max_continuations`` times if cut off.

    Errors of the first call are the caller's (raised as they are). An answer that does not
    ``need_more`` (say, its code is complete and only prose was cut) is not continued; a
    continuation that does not ``fit`` the model's context is not sent; one that fails ends the
    answer where it stands, with the error kept in the raw record.
    """
    parts = [backend.complete(messages, sampling)]
    while (
        parts[-1].finish_reason == CUT_OFF
        and continue_prompt is not None
        and len(parts) <= max_continuations
        and (needs_more is None or needs_more(joined(parts).text))
    ):
        request = continuation_request(messages, joined(parts).text, continue_prompt)
        if fits is not None and not fits(request):
            break
        try:
            parts.append(backend.complete(request, sampling))
        except LlmError as error:
            log.info("continuing a cut-off answer failed: %s", error)
            return joined(parts, error=str(error))
    return joined(parts)
