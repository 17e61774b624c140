"""Request-scoped access to what the app factory set up: settings and the session factory."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
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


async def get_read_session_factory(request: Request) -> sessionmaker[Session]:
    """Sessions for single-statement reads, in autocommit: no BEGIN/COMMIT round trips."""
    factory: sessionmaker[Session] = request.app.state.read_session_factory
    return factory


ReadSessionFactory = Annotated[sessionmaker[Session], Depends(get_read_session_factory)]


async def get_document_cache(request: Request) -> DocumentCache:
    """The app's cache of serialized finished sequences."""
    cache: DocumentCache = request.app.state.document_cache
    return cache


DocumentCacheDep = Annotated[DocumentCache, Depends(get_document_cache)]
