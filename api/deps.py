"""Request-scoped access to what the app factory set up: settings and the session factory."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from api.document_cache import DocumentCache
from reflectseq.llm.endpoints import EndpointRegistry
from reflectseq.settings import Settings


async def get_settings(request: Request) -> Settings:
    """The settings the app was created with (not the process-wide ones: tests differ)."""
    settings: Settings = request.app.state.settings
    return settings


async def get_session_factory(request: Request) -> sessionmaker[Session]:
    """The app's session factory; handlers open one ``transaction`` per unit of work.

    Async (it does no I/O) so that FastAPI calls it inline instead of in the thread pool.
    """
    factory: sessionmaker[Session] = request.app.state.session_factory
    return factory


async def get_endpoints(request: Request) -> EndpointRegistry:
    """The LLM endpoints the operator declared, read when the app was created."""
    registry: EndpointRegistry = request.app.state.endpoints
    return registry


AppSettings = Annotated[Settings, Depends(get_settings)]
Endpoints = Annotated[EndpointRegistry, Depends(get_endpoints)]
SessionFactory = Annotated[sessionmaker[Session], Depends(get_session_factory)]


@dataclass(frozen=True)
class DocumentReads:
    """What the hot sequence GET reads with: the read engine and the document cache.

    The engine's connections are in autocommit (no BEGIN/COMMIT round trips) and used through
    Core, where an ORM session's bookkeeping would cost more than the statement. One dependency
    for both: FastAPI's resolution of each dependency costs that route a measurable share.
    """

    engine: Engine
    cache: DocumentCache


async def get_document_reads(request: Request) -> DocumentReads:
    """The app's read engine and document cache."""
    return DocumentReads(request.app.state.read_engine, request.app.state.document_cache)


DocumentReadsDep = Annotated[DocumentReads, Depends(get_document_reads)]
