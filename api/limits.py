"""A cap on request body size, enforced before and while the body is read.

The declared ``Content-Length`` is checked up front (no byte of an oversized upload is read);
bodies without one (chunked uploads) are counted as they stream in, and reading fails with 413
as soon as the cap is passed. Streaming handlers therefore never hold more than the cap.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.errors import ApiError, error_response


def _too_large(max_bytes: int) -> ApiError:
    return ApiError(413, f"the request body exceeds the limit of {max_bytes} bytes")


class BodySizeLimit:
    """ASGI middleware answering 413 for bodies larger than ``max_bytes``."""

    def __init__(self, app: ASGIApp, *, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await error_response(_too_large(self.max_bytes))(scope, receive, send)
            return
        received = 0

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise _too_large(self.max_bytes)
            return message

        await self.app(scope, counting_receive, send)
