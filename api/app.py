"""The application factory: one FastAPI app per settings object.

Everything the routes need (settings, the session factory) hangs off ``app.state`` rather than
module globals, so tests and the benchmark can build apps on different databases side by side.
Other parts (the review dashboard, exports) plug in with ``app.include_router``.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic.json_schema import models_json_schema
from redis import Redis

from api.auth import KeyCache
from api.document_cache import DocumentCache
from api.errors import install_error_handlers
from api.interactive import InteractiveBudget
from api.limits import BodySizeLimit
from api.review import install_review_dashboard
from api.routes import (
    endpoints,
    execute,
    exports,
    health,
    instruction_sets,
    languages,
    metrics,
    sequences,
)
from reflectseq import __version__
from reflectseq.db.session import read_engine_for, session_factory_for
from reflectseq.llm.endpoints import load_registry
from reflectseq.settings import Settings, get_settings


def _openapi_with_extra_models(app: FastAPI) -> dict[str, Any]:
    """The generated document plus the schemas that hand-described request bodies refer to."""
    if app.openapi_schema is None:
        document = get_openapi(
            title=app.title,
            version=app.version,
            description=app.description,
            routes=app.routes,
        )
        _, extra = models_json_schema(
            [(model, "validation") for model in instruction_sets.EXTRA_SCHEMA_MODELS],
            ref_template=instruction_sets.SCHEMA_REF,
        )
        document.setdefault("components", {}).setdefault("schemas", {}).update(extra["$defs"])
        app.openapi_schema = document
    return app.openapi_schema


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the API for ``settings`` (the process-wide settings by default)."""
    settings = settings or get_settings()
    if settings.database_url.startswith("sqlite"):
        settings.ensure_data_dir()
    app = FastAPI(
        title="reflectseq",
        version=__version__,
        description=(
            "Submit programming instructions, follow their reflection sequences as they are "
            "generated, and read them back. Every `/v1` route needs an API key "
            "(`Authorization: Bearer <key>`). Errors share one shape: "
            '`{"error": {"code", "message", "details"}}`.'
        ),
    )
    app.state.settings = settings
    app.state.session_factory = session_factory_for(settings.database_url)
    app.state.read_engine = read_engine_for(settings.database_url)
    app.state.key_cache = KeyCache(settings.api_key_cache_s)
    app.state.document_cache = DocumentCache(settings.sequence_cache_mb * 2**20)
    # Read once at start: a malformed endpoints file stops the API here, not at a submission.
    app.state.endpoints = load_registry(settings)
    redis = Redis.from_url(settings.redis_url) if settings.redis_url else None
    app.state.interactive_budget = InteractiveBudget(settings, redis)
    install_error_handlers(app)
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_upload_bytes)
    routes = (health, instruction_sets, sequences, languages, endpoints, execute, metrics, exports)
    for module in routes:
        app.include_router(module.router)
    install_review_dashboard(app)  # the review dashboard under /review
    app.openapi = lambda: _openapi_with_extra_models(app)  # type: ignore[method-assign]
    return app
