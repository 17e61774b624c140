"""LLM backends behind one interface (``base.LlmBackend``), chosen per generation config.

A config names a declared endpoint (``endpoints.EndpointRegistry``); the backend for it is built
from the registry's entry alone, so the URL dialled and the key sent are always the operator's.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable
from typing import Any

from reflectseq.db.models import GenerationConfig
from reflectseq.llm.adaptive import UNDECLARED_CEILING, AdaptiveConcurrency
from reflectseq.llm.base import LlmBackend, LlmRejected
from reflectseq.llm.endpoints import Endpoint, EndpointChoiceError, EndpointRegistry, load_registry
from reflectseq.llm.model_files import BUNDLED_MODELS
from reflectseq.llm.ratelimit import (
    LocalRateLimiter,
    RateLimiter,
    RedisRateLimiter,
    UnlimitedRateLimiter,
)
from reflectseq.llm.retry import RetryPolicy
from reflectseq.settings import Settings

BackendFactory = Callable[[GenerationConfig], LlmBackend]


def bundled_model_name(requested: str, default: str) -> str:
    """The bundled model a config names (its name or a longer form of it), else the default."""
    for name in BUNDLED_MODELS:
        if requested.lower().startswith(name):
            return name
    return default


def _limiter(endpoint: Endpoint, model: str, redis: Any | None) -> RateLimiter:
    if endpoint.limits.unlimited:  # nothing to share: no round trip to Redis per call
        return UnlimitedRateLimiter()
    if redis is None:
        return LocalRateLimiter(endpoint.limits)
    name = hashlib.sha256(f"{endpoint.name}|{model}".encode()).hexdigest()[:16]
    # A slot outlives its call (the first token's wait plus the answer) unless its worker died.
    slot_ttl_s = 2 * (endpoint.first_token_timeout_s + endpoint.timeout_s)
    return RedisRateLimiter(redis, name, endpoint.limits, slot_ttl_s=slot_ttl_s)


def backend_factory(
    settings: Settings, redis: Any | None = None, *, registry: EndpointRegistry | None = None
) -> BackendFactory:
    """A function giving each config its backend, built once per process and endpoint.

    The local model is loaded once and shared: loading it per sequence would cost more than
    generating. ``redis`` makes the rate limits shared by every worker. Each endpoint has one
    adaptive in-flight limit for the process, whichever model is asked. A config whose endpoint
    or model the registry does not declare (any more) gets ``LlmRejected`` and nothing is sent.
    """
    endpoints = registry or load_registry(settings)
    built: dict[tuple[str, str], LlmBackend] = {}
    adaptive: dict[str, AdaptiveConcurrency] = {}
    lock = threading.Lock()

    def concurrency(endpoint: Endpoint) -> AdaptiveConcurrency:
        if endpoint.name not in adaptive:
            ceiling = endpoint.limits.max_concurrency or UNDECLARED_CEILING
            adaptive[endpoint.name] = AdaptiveConcurrency(endpoint.name, ceiling=ceiling)
        return adaptive[endpoint.name]

    def build(endpoint: Endpoint, model: str) -> LlmBackend:
        if endpoint.kind == "local":
            from reflectseq.llm.local_backend import LocalBackend  # noqa: PLC0415 - optional extra

            return LocalBackend(
                bundled_model_name(model, settings.local_model),
                settings.ensure_data_dir() / "models",
                threads=settings.local_threads,
                context=endpoint.context_tokens or settings.local_context_tokens,
            )
        from reflectseq.llm.openai_backend import OpenAIBackend  # noqa: PLC0415 - light import

        return OpenAIBackend(
            model=model,
            endpoint_name=endpoint.name,
            base_url=endpoint.base_url or None,
            api_key=endpoint.api_key.get_secret_value(),
            deadlines=endpoint.deadlines,
            extra_headers=endpoint.extra_headers,
            retry=RetryPolicy(
                max_retries=settings.llm_max_retries,
                base_s=settings.llm_backoff_base_s,
                max_s=settings.llm_backoff_max_s,
            ),
            limiter=_limiter(endpoint, model, redis),
            concurrency=concurrency(endpoint),
            prices=endpoint.prices,
        )

    def backend_for(config: GenerationConfig) -> LlmBackend:
        try:
            endpoint, model = endpoints.choose(config.endpoint, config.model)
        except EndpointChoiceError as error:
            raise LlmRejected(str(error)) from error
        key = (endpoint.name, model)
        with lock:
            if key not in built:
                built[key] = build(endpoint, model)
            return built[key]

    return backend_for
