"""How many tokens a model's context holds, so the loop can keep its conversations inside it.

Three sources, the most reliable first:

* learned: what the server said when it refused a prompt as too long (it enforces that number);
* declared: the endpoint's ``context_tokens`` (the endpoints file; the bundled model's
  ``REFLECTSEQ_LOCAL_CONTEXT_TOKENS``);
* reported: ``GET <base_url>/models``, asked once per endpoint and model, for servers that say it
  (vLLM and SGLang: ``max_model_len``; OpenRouter-style: ``context_length``). Only the operator's
  declared URL is asked, with the endpoint's own key; an endpoint without a base URL (OpenAI's
  own API) reports nothing and is not asked.

Unknown is a valid answer: the loop then sends what it has and learns from a refusal.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

import httpx

from reflectseq.llm.endpoints import Endpoint, EndpointChoiceError, EndpointRegistry

REPORTED_FIELDS = ("max_model_len", "context_length")
DISCOVERY_TIMEOUT_S = 5.0
log = logging.getLogger(__name__)

Discover = Callable[[Endpoint, str], int | None]


def _window_of(entry: Any) -> int | None:
    if not isinstance(entry, dict):
        return None
    for name in REPORTED_FIELDS:
        value = entry.get(name)
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return value
    return None


def reported_context_tokens(endpoint: Endpoint, model: str) -> int | None:
    """The context window ``GET /models`` reports for ``model``, or None (also on any error)."""
    if endpoint.kind != "openai" or not endpoint.base_url:
        return None
    headers = dict(endpoint.extra_headers)
    key = endpoint.api_key.get_secret_value()
    if key:
        headers["Authorization"] = f"Bearer {key}"
    url = f"{endpoint.base_url.rstrip('/')}/models"
    try:
        response = httpx.get(url, headers=headers, timeout=DISCOVERY_TIMEOUT_S)
        response.raise_for_status()
        document = response.json()
    except (httpx.HTTPError, ValueError) as error:
        log.info("endpoint %r does not report its models: %s", endpoint.name, error)
        return None
    listed = document.get("data") if isinstance(document, dict) else None
    if not isinstance(listed, list):
        return None
    entries = [entry for entry in listed if isinstance(entry, dict) and entry.get("id") == model]
    if not entries and len(listed) == 1:  # a server of one model may name it its own way
        entries = listed
    return next((w for w in map(_window_of, entries) if w is not None), None)


def _key(endpoint: Endpoint | None, name: str | None, model: str) -> tuple[str, str]:
    return (endpoint.name if endpoint else name or "", model)


class ContextWindows:
    """The context window per endpoint and model: learned, declared, or reported (cached)."""

    def __init__(
        self,
        registry: EndpointRegistry | None = None,
        discover: Discover = reported_context_tokens,
    ) -> None:
        self._registry = registry
        self._discover = discover
        self._lock = threading.Lock()
        # One discovery at a time: the hundreds of sequences a worker starts at once ask once.
        self._discovering = threading.Lock()
        self._learned: dict[tuple[str, str], int] = {}
        self._reported: dict[tuple[str, str], int | None] = {}

    def tokens(self, endpoint_name: str | None, model: str) -> int | None:
        """How many tokens the model's context holds, or None when nobody says."""
        endpoint = self._endpoint(endpoint_name)
        key = _key(endpoint, endpoint_name, model)
        with self._lock:
            if key in self._learned:
                return self._learned[key]
        if endpoint is None:
            return None
        if endpoint.context_tokens is not None:
            return endpoint.context_tokens
        with self._discovering:
            with self._lock:
                if key in self._reported:
                    return self._reported[key]
            reported = self._discover(endpoint, model)  # a network call: readers keep reading
            with self._lock:
                self._reported[key] = reported
                return reported

    def learn(self, endpoint_name: str | None, model: str, tokens: int) -> None:
        """Remember the window a server enforced (it wins over what was declared)."""
        key = _key(self._endpoint(endpoint_name), endpoint_name, model)
        with self._lock:
            self._learned[key] = tokens

    def _endpoint(self, name: str | None) -> Endpoint | None:
        if self._registry is None:
            return None
        try:
            return self._registry.get(name or self._registry.default_name)
        except EndpointChoiceError:
            return None
