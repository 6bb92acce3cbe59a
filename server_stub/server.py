"""Serving the app with uvicorn: a bound socket, a start-up callback, clean stops.

``serve(settings)`` is what ``python -m server_stub`` runs; ``StubServer`` is also what the test
helper runs in a thread (``should_exit = True`` stops it).
"""

from __future__ import annotations

import contextlib
import signal
import socket
import threading
from collections.abc import Callable, Generator
from types import FrameType

import uvicorn
from starlette.applications import Starlette

from server_stub.transport import AbortableProtocol

_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def bind_socket(host: str, port: int) -> socket.socket:
    """A listening TCP socket on host:port (port 0: a free one)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # proto must be IPPROTO_TCP explicitly: asyncio sets TCP_NODELAY on accepted connections only
    # then, and without it Nagle + delayed ACK add ~40 ms to every keep-alive request.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(128)
        sock.set_inheritable(False)
    except OSError:
        sock.close()
        raise
    return sock


def socket_url(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}"


def make_config(app: Starlette) -> uvicorn.Config:
    return uvicorn.Config(
        app,
        http=AbortableProtocol,
        ws="none",
        lifespan="on",
        log_config=None,
        access_log=False,  # the app writes its own JSON access log
        timeout_graceful_shutdown=5,
        server_header=False,
    )


class StubServer(uvicorn.Server):
    """uvicorn's server with a hook once it accepts connections, and signals that end it cleanly
    (exit status 0 rather than re-raising the signal after shutdown)."""

    def __init__(self, config: uvicorn.Config, on_started: Callable[[], None] | None = None) -> None:
        super().__init__(config)
        self._on_started = on_started

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        if self.started and self._on_started is not None:
            self._on_started()

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        previous = {sig: signal.signal(sig, self._stop_on_signal) for sig in _SIGNALS}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def _stop_on_signal(self, sig: int, frame: FrameType | None) -> None:
        if self.should_exit and sig == signal.SIGINT:
            self.force_exit = True
        self.should_exit = True


def serve(app: Starlette, sock: socket.socket, on_started: Callable[[], None] | None = None) -> None:
    """Serve until SIGINT/SIGTERM (main thread) or until stopped; closes the socket."""
    server = StubServer(make_config(app), on_started=on_started)
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()
