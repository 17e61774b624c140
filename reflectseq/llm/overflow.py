"""Recognising a "prompt too long for the context" refusal in the words each server uses.

A context overflow is not a failure like the others: retrying the same request is futile, but a
shorter conversation will do, and the refusal usually says how long the context is and how long
the prompt was. Pure functions over the error body, so every wording is tested without a server:

* OpenAI, vLLM and llama-cpp-python's server: "This model's maximum context length is 4096
  tokens. However, you requested 5757 tokens (4733 in the messages, 1024 in the completion)."
  (newer vLLM: "... and your request has 4733 input tokens"; OpenAI: "your messages resulted in
  4733 tokens"), code ``context_length_exceeded``;
* llama.cpp's server: "request (4733 tokens) exceeds the available context size (4096 tokens)",
  type ``exceed_context_size_error`` with ``n_prompt_tokens`` and ``n_ctx`` fields (older builds:
  "the request exceeds the available context size");
* llama-cpp-python in-process: "Requested tokens (4733) exceed context window of 4096".
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

_CONTEXT = (
    re.compile(r"maximum context length is (\d+) tokens"),
    re.compile(r"available context size \((\d+) tokens\)"),
    re.compile(r"exceed context window of (\d+)"),
)
_PROMPT = (
    re.compile(r"\((\d+) in the messages"),
    re.compile(r"\((\d+) in your prompt"),
    re.compile(r"request has (\d+) input tokens"),
    re.compile(r"messages resulted in (\d+) tokens"),
    re.compile(r"request \((\d+) tokens\) exceeds"),
    re.compile(r"Requested tokens \((\d+)\) exceed context"),
)
_MARKERS = (
    "context_length_exceeded",
    "exceed_context_size_error",
    "maximum context length",
    "exceeds the available context size",
    "exceed context window",
)


@dataclass(frozen=True)
class Overflow:
    """What a context refusal said: the window and the prompt's length, where it said them."""

    context_tokens: int | None
    prompt_tokens: int | None


def _first_number(patterns: tuple[re.Pattern[str], ...], text: str) -> int | None:
    for pattern in patterns:
        found = pattern.search(text)
        if found:
            return int(found.group(1))
    return None


def _field(body: Any, name: str) -> int | None:
    value = body.get(name) if isinstance(body, dict) else None
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def context_overflow(body: Any, message: str = "") -> Overflow | None:
    """The overflow an error body (or message) reports, or None when it reports something else."""
    text = f"{message}\n{json.dumps(body, default=str) if body is not None else ''}"
    if not any(marker in text for marker in _MARKERS):
        return None
    return Overflow(
        context_tokens=_field(body, "n_ctx") or _first_number(_CONTEXT, text),
        prompt_tokens=_field(body, "n_prompt_tokens") or _first_number(_PROMPT, text),
    )
