"""LLM backends behind one interface (``base.LlmBackend``), chosen per generation config."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable
from typing import Any

from reflectseq.db.models import GenerationConfig
from reflectseq.settings import Settings
from reflectseq.llm.base import LlmBackend
from reflectseq.llm.model_files import BUNDLED_MODELS
from reflectseq.llm.pricing import PriceTable
from reflectseq.llm.ratelimit import Limits, LocalRateLimiter, RateLimiter, RedisRateLimiter
from reflectseq.llm.retry import RetryPolicy

BackendFactory = Callable[[GenerationConfig], LlmBackend]


def bundled_model_name(requested: str, default: str) -> str:
    """The bundled model a config names (its name or a longer form of it), else the default."""
    for name in BUNDLED_MODELS:
        if requested.lower().startswith(name):
            return name
    return default


def _limiter(settings: Settings, endpoint: str, model: str, redis: Any | None) -> RateLimiter:
    limits = Limits(
        requests_per_minute=settings.llm_requests_per_minute,
        tokens_per_minute=settings.llm_tokens_per_minute,
        max_concurrency=settings.llm_max_concurrency,
    )
    if redis is None:
        return LocalRateLimiter(limits)
    name = hashlib.sha256(f"{endpoint}|{model}".encode()).hexdigest()[:16]
    return RedisRateLimiter(redis, name, limits, slot_ttl_s=settings.llm_timeout_s * 2)


def backend_factory(settings: Settings, redis: Any | None = None) -> BackendFactory:
    """A function giving each config its backend, built once per process and endpoint.

    The local model is loaded once and shared: loading it per sequence would cost more than
    generating. ``redis`` makes the rate limits shared by every worker.
    """
    built: dict[tuple[str, str, str], LlmBackend] = {}
    lock = threading.Lock()
    prices = PriceTable.load(settings.llm_price_table)

    def build(config: GenerationConfig) -> LlmBackend:
        if config.backend == "local":
            from reflectseq.llm.local_backend import LocalBackend  # noqa: PLC0415 - optional extra

            return LocalBackend(
                bundled_model_name(config.model, settings.local_model),
                settings.ensure_data_dir() / "models",
                threads=settings.local_threads,
                context=settings.local_context_tokens,
            )
        from reflectseq.llm.openai_backend import OpenAIBackend  # noqa: PLC0415 - keeps import light

        endpoint = config.endpoint or settings.llm_base_url
        return OpenAIBackend(
            model=config.model,
            base_url=endpoint or None,
            api_key=settings.llm_api_key.get_secret_value(),
            timeout_s=settings.llm_timeout_s,
            extra_headers=settings.llm_extra_headers,
            retry=RetryPolicy(
                max_retries=settings.llm_max_retries,
                base_s=settings.llm_backoff_base_s,
                max_s=settings.llm_backoff_max_s,
            ),
            limiter=_limiter(settings, endpoint, config.model, redis),
            prices=prices,
        )

    def backend_for(config: GenerationConfig) -> LlmBackend:
        key = (config.backend, config.endpoint or "", config.model)
        with lock:
            if key not in built:
                built[key] = build(config)
            return built[key]

    return backend_for
