"""The HTTP client an https:// destination talks through, and the deadline of a whole answer.

httpx's timeouts are per phase and per socket read, so an intake that trickles its answer one byte
a second never trips them and holds a sender thread for as long as it likes. ``answer_deadline``
sets a deadline for everything a thread does on the network (connect, send, headers, body); the
network backend installed by ``make_http_client`` caps every socket operation by the time left, so
a trickling answer ends as a timeout (outcome unknown) when ``timeout_s`` has passed.
"""

from __future__ import annotations

import contextlib
import ipaddress
import logging
import ssl
import threading
import time
from collections.abc import Iterable, Iterator
from typing import Any
from urllib.parse import urlsplit

import httpcore
import httpx

from relay import __version__
from relay.config import Config
from relay.errors import ConfigError

log = logging.getLogger("relay.delivery")

_deadline = threading.local()


@contextlib.contextmanager
def answer_deadline(seconds: float) -> Iterator[float]:
    """Everything this thread does on the network inside the block ends within ``seconds``.
    Yields the deadline (``time.monotonic()`` based)."""
    previous = getattr(_deadline, "at", None)
    at = time.monotonic() + seconds
    _deadline.at = at if previous is None else min(previous, at)
    try:
        yield _deadline.at
    finally:
        _deadline.at = previous


def _capped(timeout: float | None, error: type[Exception]) -> float | None:
    at = getattr(_deadline, "at", None)
    if at is None:
        return timeout
    left = at - time.monotonic()
    if left <= 0:
        raise error("the whole answer did not arrive in time")
    return left if timeout is None else min(timeout, left)


class _DeadlineStream(httpcore.NetworkStream):
    def __init__(self, inner: httpcore.NetworkStream) -> None:
        self._inner = inner

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, _capped(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, _capped(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(self, ssl_context: ssl.SSLContext, server_hostname: str | None = None,
                  timeout: float | None = None) -> httpcore.NetworkStream:
        inner = self._inner.start_tls(ssl_context, server_hostname, _capped(timeout, httpcore.ConnectTimeout))
        return _DeadlineStream(inner)

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class _DeadlineBackend(httpcore.NetworkBackend):
    def __init__(self, inner: httpcore.NetworkBackend) -> None:
        self._inner = inner

    def connect_tcp(self, host: str, port: int, timeout: float | None = None, local_address: str | None = None,
                    socket_options: Iterable[Any] | None = None) -> httpcore.NetworkStream:
        stream = self._inner.connect_tcp(host, port, _capped(timeout, httpcore.ConnectTimeout), local_address,
                                         socket_options)
        return _DeadlineStream(stream)

    def connect_unix_socket(self, path: str, timeout: float | None = None,
                            socket_options: Iterable[Any] | None = None) -> httpcore.NetworkStream:
        stream = self._inner.connect_unix_socket(path, _capped(timeout, httpcore.ConnectTimeout), socket_options)
        return _DeadlineStream(stream)

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


def install_deadline(client: httpx.Client) -> bool:
    """Make ``answer_deadline`` hold for every transport of ``client`` (the direct one and those for
    proxies from the environment). Connections are made lazily, so this works before the first
    request. Returns False when the client's transports are not httpx's own (tests' MockTransport):
    the destination then checks the deadline between the chunks of an answer only."""
    transports = [client._transport, *(t for t in client._mounts.values() if t is not None)]
    done = False
    for transport in transports:
        pool = getattr(transport, "_pool", None)
        backend = getattr(pool, "_network_backend", None)
        if backend is not None and not isinstance(backend, _DeadlineBackend):
            pool._network_backend = _DeadlineBackend(backend)  # type: ignore[union-attr]
            done = True
    return done


def make_http_client(config: Config) -> httpx.Client:
    """Keep-alive client; TLS verification always on, with an extra CA file if configured;
    proxies from the environment; every answer bounded by ``answer_deadline``."""
    parts = urlsplit(config.intake.url or "")
    if parts.scheme == "http" and not loopback_name(parts.hostname or ""):
        log.warning("intake.url is plain http to another machine (%s): results would travel unencrypted; "
                    "use an https address", parts.hostname)
    verify: ssl.SSLContext | bool = True
    if config.intake.ca_file is not None:
        verify = httpx.create_ssl_context(trust_env=True)  # the trust httpx uses anyway, plus the extra CA
        try:
            verify.load_verify_locations(cafile=str(config.intake.ca_file))
        except (OSError, ssl.SSLError) as exc:
            reason = getattr(exc, "strerror", None) or "not PEM certificates"
            raise ConfigError(f"{config.source or 'the configuration'}: intake.ca_file: cannot use "
                              f"{config.intake.ca_file} as certificate authorities ({reason})") from exc
    client = httpx.Client(
        verify=verify,
        trust_env=True,
        timeout=config.intake.timeout_s,
        limits=httpx.Limits(max_keepalive_connections=2, max_connections=max(4, 2 * config.intake.max_in_flight)),
        headers={"User-Agent": f"relay/{__version__}"},
    )
    install_deadline(client)
    return client


def loopback_name(host: str) -> bool:
    try:
        return host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
