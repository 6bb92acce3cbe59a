"""Closing a connection without any answer, which ASGI itself cannot express.

``AbortableProtocol`` is uvicorn's HTTP protocol with one addition: each request's scope carries a
callable under ``ABORT_KEY`` that aborts the TCP connection. ``DropConnection`` is a response that
calls it, so an endpoint can "lose" a request the way a flaky network does.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send
from uvicorn.protocols.http.auto import AutoHTTPProtocol

log = logging.getLogger("server_stub.transport")

ABORT_KEY = "server_stub.abort"


class AbortableProtocol(AutoHTTPProtocol):  # type: ignore[misc,valid-type]
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        inner: ASGIApp = getattr(self, "app")  # set by uvicorn's protocol

        async def app(scope: Scope, receive: Receive, send: Send) -> None:
            scope[ABORT_KEY] = self._abort
            await inner(scope, receive, send)

        self.app = app

    def _abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()


class DropConnection(Response):
    """A response that never answers: the connection is aborted instead."""

    def __init__(self) -> None:
        super().__init__(status_code=599)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        abort: Callable[[], None] | None = scope.get(ABORT_KEY)
        if abort is None:
            # Not served by server_stub.server: the nearest thing is a reply cut off mid-way.
            log.warning("cannot drop the connection under this server; sending an incomplete answer")
            await send({"type": "http.response.start", "status": 500, "headers": [(b"content-length", b"100")]})
            await send({"type": "http.response.body", "body": b"", "more_body": True})
            return
        abort()
        # Let the event loop run connection_lost, so the server sees a disconnect, not an app error.
        for _ in range(3):
            await asyncio.sleep(0)
