"""The local listener: HTTP on loopback for systems on the same machine that post results.

A Starlette app (``listener_app``) served by uvicorn in a background thread, in front of a group
committer (``listener_commit``) that stores concurrent posts in shared durable transactions. The
socket is bound here, before the server starts, so a port in use is a plain error at ``start()``.
uvicorn parses HTTP with httptools when it is installed (about a third less CPU per post), else h11.
"""

from __future__ import annotations

import errno
import ipaddress
import logging
import os
import socket
import threading
from collections.abc import Callable
from typing import Any

import uvicorn

from relay.clock import Clock
from relay.config import ListenerConfig, TranslateConfig
from relay.errors import EnvironmentProblem
from relay.formats.json_reader import INTAKE_FORMATS
from relay.ingest.listener_app import Context, build_app
from relay.ingest.listener_commit import GroupCommitter
from relay.store.outbox import Outbox

log = logging.getLogger("relay.ingest")

START_TIMEOUT_S = 10.0
GRACEFUL_S = 2  # requests still running when stopping get this long to finish


def _bind_problem(exc: OSError, host: str, port: int) -> EnvironmentProblem:
    code = exc.errno
    winerror = getattr(exc, "winerror", None)
    if code == errno.EADDRINUSE or winerror == 10048:
        text = (f"port {port} on {host} is already in use by another program; stop that program or choose "
                "another listener.port in relay's configuration")
    elif code == errno.EACCES or winerror == 10013:
        text = f"relay is not allowed to listen on port {port} on {host}; choose a port above 1023"
    elif code == errno.EADDRNOTAVAIL or winerror == 10049:
        text = f"{host} is not an address of this machine; check listener.host in relay's configuration"
    else:
        text = f"relay cannot listen on {host} port {port} ({exc.strerror or exc})"
    return EnvironmentProblem(f"the local listener cannot start: {text}")


def bind_socket(host: str, port: int) -> socket.socket:
    """A listening TCP socket on host:port (port 0: a free port), or EnvironmentProblem."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except (socket.gaierror, UnicodeError) as exc:
        raise EnvironmentProblem(
            f"the local listener cannot start: {host!r} is not a known address; check listener.host"
        ) from exc
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    try:
        if os.name == "nt":  # there SO_REUSEADDR would let another program take the port from us
            if hasattr(socket, "SO_EXCLUSIVEADDRUSE"):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_EXCLUSIVEADDRUSE, 1)
        else:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(1024)
    except OSError as exc:
        sock.close()
        raise _bind_problem(exc, host, port) from exc
    return sock


def _exposed(host: str, port: int) -> bool:
    """Whether listening on ``host`` would take connections from other machines (decided before
    binding; a name that does not resolve is left to bind_socket to report)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except (socket.gaierror, UnicodeError):
        return False
    return not is_loopback(str(infos[0][4][0]))


def is_loopback(address: str) -> bool:
    try:
        return ipaddress.ip_address(address.split("%", 1)[0]).is_loopback
    except ValueError:
        return False


class Listener:
    """HTTP on ``config.host:config.port``; items go into ``outbox`` from source "listener"."""

    def __init__(self, outbox: Outbox, config: ListenerConfig, *, intake_format: str, client: str,
                 clock: Clock, notify: Callable[[], None], status: Callable[[], dict[str, Any]],
                 tracking_column: str | None = None, translate: TranslateConfig | None = None,
                 on_problem: Callable[[str, str | None], None] | None = None) -> None:
        if intake_format not in INTAKE_FORMATS:
            raise ValueError(f"unknown intake format {intake_format!r}; one of {', '.join(INTAKE_FORMATS)}")
        self.config = config
        self._committer = GroupCommitter(outbox, client=client, clock=clock, notify=notify)
        self._stopping = threading.Event()
        self._context = Context(outbox=outbox, committer=self._committer, intake_format=intake_format,
                                max_body_bytes=config.max_body_bytes, status=status, stopping=self._stopping,
                                tracking_column=tracking_column, translate=translate, now=clock.now,
                                body_timeout_s=config.body_timeout_s, on_problem=on_problem)
        self._sock: socket.socket | None = None
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._failure: BaseException | None = None
        self._port = 0

    # -- lifecycle --------------------------------------------------------------------------------

    def start(self) -> None:
        """Bind and serve; returns once requests are answered. EnvironmentProblem if it cannot bind."""
        if self._thread is not None:
            raise RuntimeError("the listener is already running")
        host = self.config.host
        exposed = _exposed(host, self.config.port)
        if exposed and not self.config.token:
            raise EnvironmentProblem(
                f"the local listener would accept results from other machines on {host!r} without a token; set "
                "listener.token (at least 16 characters) or listener.host = \"127.0.0.1\"")
        if exposed:
            log.warning("the local listener accepts connections from other machines (%s, port %d); "
                        "set listener.host = \"127.0.0.1\" unless that is intended", host, self.config.port)
        sock = bind_socket(host, self.config.port)
        self._sock, self._port = sock, sock.getsockname()[1]
        self._stopping.clear()
        self._failure = None
        self._committer.start()
        app = build_app(self._context, self.config.token,
                        None if exposed else frozenset({"127.0.0.1", "localhost", "::1", host.strip("[]").lower()}))
        config = uvicorn.Config(app, lifespan="off", log_config=None, access_log=False, loop="asyncio",
                                http="auto", ws="none", proxy_headers=False, server_header=False,
                                timeout_graceful_shutdown=GRACEFUL_S)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._serve, name="relay-listener", daemon=True)
        self._thread.start()
        waited = 0.0
        while not self._server.started and self._thread.is_alive() and waited < START_TIMEOUT_S:
            self._thread.join(0.01)
            waited += 0.01
        if not self._server.started:
            self.stop()
            raise EnvironmentProblem(f"the local listener did not start ({self._failure or 'timed out'})")
        log.info("local listener on %s", self.url)

    def _serve(self) -> None:
        assert self._server is not None and self._sock is not None
        try:
            self._server.run(sockets=[self._sock])
        except BaseException as exc:  # uvicorn ends a failed start with SystemExit; keep it for start()
            self._failure = exc
            log.error("local listener stopped unexpectedly", exc_info=exc)

    def stop(self) -> None:
        """Stop taking requests, let running ones finish (a couple of seconds at most), answer
        everything already queued for storing, and close the socket."""
        self._stopping.set()
        server, thread = self._server, self._thread
        if server is None and self._sock is None:
            return
        if server is not None and thread is not None:
            server.should_exit = True
            thread.join(GRACEFUL_S + 3)
            if thread.is_alive():
                server.force_exit = True
                thread.join(2)
        self._committer.stop()
        if self._sock is not None:
            self._sock.close()
        self._server = self._thread = self._sock = None
        log.info("local listener stopped")

    def __enter__(self) -> Listener:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- facts ------------------------------------------------------------------------------------

    @property
    def port(self) -> int:
        return self._port

    @property
    def url(self) -> str:
        host = self.config.host
        return f"http://[{host}]:{self._port}" if ":" in host else f"http://{host}:{self._port}"

    def stats(self) -> dict[str, int]:
        """Shared commits so far, requests they stored, and requests waiting for the next one."""
        c = self._committer
        return {"commits": c.commits, "requests": c.requests, "waiting": c.waiting}
