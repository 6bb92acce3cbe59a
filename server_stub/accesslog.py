"""One JSON line per request: time, method, path, status, idempotency key, item count, latency.

Never row contents: the log may sit on a shared disk and rows are patient data.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from server_stub.clock import Clock
from server_stub.responses import iso

LOG_INFO_KEY = "server_stub.log"  # scope key: a dict endpoints fill with what the line should say


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever ``sys.stderr`` is at the time (test runners swap it)."""

    def __init__(self) -> None:
        super().__init__()

    @property
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, value: Any) -> None:
        pass


def make_access_logger(path: str | None) -> logging.Logger:
    """A logger of its own (not in the global registry) writing bare lines to ``path`` or stderr."""
    logger = logging.Logger("server_stub.access", logging.INFO)
    handler: logging.Handler = logging.FileHandler(path, encoding="utf-8") if path else _StderrHandler()
    handler.setFormatter(logging.Formatter("%(message)s"))
    logger.addHandler(handler)
    logger.propagate = False
    return logger


def close_access_logger(logger: logging.Logger) -> None:
    for handler in list(logger.handlers):
        handler.close()
        logger.removeHandler(handler)


class AccessLog:
    """ASGI middleware writing the per-request line after each HTTP request."""

    def __init__(self, app: ASGIApp, logger: logging.Logger, clock: Clock) -> None:
        self.app = app
        self.logger = logger
        self.clock = clock

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        info: dict[str, Any] = {}
        scope[LOG_INFO_KEY] = info
        status: int | None = None
        started = time.perf_counter()

        async def send_and_note(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_and_note)
        finally:
            headers = dict(scope.get("headers") or [])
            line = {
                "time": iso(self.clock.now()),
                "method": scope.get("method"),
                "path": scope.get("path"),
                "status": status,
                "client": headers.get(b"client", b"").decode("latin-1") or None,
                "idempotency_key": info.get("idempotency_key"),
                "items": info.get("items"),
                "replay": bool(info.get("replay")),
                "dropped": status is None,
                "latency_ms": round((time.perf_counter() - started) * 1000, 2),
            }
            self.logger.info(json.dumps(line, ensure_ascii=False))
