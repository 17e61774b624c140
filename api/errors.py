"""One error shape for every failure: ``{"error": {"code", "message", "details"}}``.

Handlers translate FastAPI's validation errors, HTTP exceptions and the store's domain errors
into it, so a client parses a single shape whatever went wrong, and the OpenAPI document
describes exactly what is sent.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from api.schemas import ErrorBody, ErrorDetail, ErrorResponse
from reflectseq.store.errors import Conflict, InvalidState, NotFound

logger = logging.getLogger(__name__)

_CODES_BY_STATUS = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "rate_limited",
    503: "unavailable",
}


class ApiError(Exception):
    """An error the API reports on purpose, with its HTTP status."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        code: str | None = None,
        details: Sequence[ErrorDetail] = (),
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code or _CODES_BY_STATUS.get(status, "error")
        self.message = message
        self.details = list(details)
        self.headers = headers


def field_path(loc: Sequence[int | str]) -> str:
    """``("instructions", 3, "language")`` -> ``instructions[3].language``."""
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += f".{part}" if path else str(part)
    return path


def details_from_pydantic(
    errors: Sequence[Any], *, line: int | None = None, prefix: Sequence[int | str] = ()
) -> list[ErrorDetail]:
    """Pydantic error dicts as ``ErrorDetail`` s, their locations made into field paths."""
    return [
        ErrorDetail(
            line=line,
            field=field_path([*prefix, *error.get("loc", ())]) or None,
            message=str(error.get("msg", "invalid")),
        )
        for error in errors
    ]


def error_response(error: ApiError) -> JSONResponse:
    """Render an ``ApiError``."""
    body = ErrorResponse(
        error=ErrorBody(code=error.code, message=error.message, details=error.details)
    )
    return JSONResponse(
        body.model_dump(mode="json"), status_code=error.status, headers=error.headers
    )


async def _api_error(_: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, ApiError)
    return error_response(error)


async def _validation_error(_: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, RequestValidationError)
    # FastAPI puts "body" before body fields; the other sources (query, path, header) stay.
    errors = [
        {**e, "loc": e["loc"][1:]} if e.get("loc", ())[:1] == ("body",) else e
        for e in error.errors()
    ]
    return error_response(
        ApiError(422, "the request is invalid", details=details_from_pydantic(errors))
    )


async def _http_error(_: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, StarletteHTTPException)
    return error_response(
        ApiError(error.status_code, str(error.detail), headers=dict(error.headers or {}))
    )


async def _not_found(_: Request, error: Exception) -> JSONResponse:
    return error_response(ApiError(404, str(error)))


async def _conflict(_: Request, error: Exception) -> JSONResponse:
    return error_response(ApiError(409, str(error)))


async def _unexpected(_: Request, error: Exception) -> JSONResponse:
    logger.exception("unhandled error", exc_info=error)
    return error_response(ApiError(500, "internal error", code="internal_error"))


def install_error_handlers(app: FastAPI) -> None:
    """Register the handlers that produce the common error shape."""
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(NotFound, _not_found)
    app.add_exception_handler(Conflict, _conflict)
    app.add_exception_handler(InvalidState, _conflict)
    app.add_exception_handler(Exception, _unexpected)


def _documented(description: str) -> dict[str, Any]:
    return {"model": ErrorResponse, "description": description}


# Statuses every authenticated operation can answer with, for the OpenAPI document.
AUTH_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: _documented("No valid API key was sent."),
    403: _documented("The key's role may not do this."),
    422: _documented("The request is invalid; `details` names each field."),
}
NOT_FOUND_RESPONSE: dict[int | str, dict[str, Any]] = {404: _documented("No such resource.")}
CONFLICT_RESPONSE: dict[int | str, dict[str, Any]] = {
    409: _documented("The request conflicts with the resource's state.")
}
MALFORMED_BODY_RESPONSE: dict[int | str, dict[str, Any]] = {
    400: _documented("The body cannot be parsed at all (e.g. a malformed multipart form).")
}
TOO_LARGE_RESPONSE: dict[int | str, dict[str, Any]] = {
    413: _documented("The body exceeds the configured size limit."),
    415: _documented("The body's media type is not one of the accepted ones."),
}
