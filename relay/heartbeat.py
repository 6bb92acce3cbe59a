"""Heartbeats (INTERFACE §11): the status object posted now and then to a fleet page.

Sites sit behind NAT, so the intake side cannot ask them; they tell it. A small thread of its own,
with its own HTTP client: a heartbeat that fails is logged once per incident and never touches
delivery. When the heartbeat goes to the intake's own host it carries the intake's credential in
the intake's way (``intake.auth``), read from the keyring or RELAY_TOKEN like the sender's; under
``oauth-jwt`` it is the sender's access token, as a bearer token.
"""

from __future__ import annotations

import logging
import socket
import ssl
import threading
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import httpx

from relay import __version__
from relay.clock import Clock, iso
from relay.config import Config
from relay.errors import RelayError

log = logging.getLogger("relay.heartbeat")

MAX_TIMEOUT_S = 10.0
DEFAULT_PORTS = {"http": 80, "https": 443}


def _origin(url: str | None) -> tuple[str, str, int] | None:
    if not url:
        return None
    try:
        parts = urlsplit(url)
        port = parts.port or DEFAULT_PORTS.get(parts.scheme, 0)
    except ValueError:
        return None
    return parts.scheme, (parts.hostname or "").lower(), port


def same_host(a: str | None, b: str | None) -> bool:
    """Whether two addresses share scheme, host and port (the intake's credential may go to both)."""
    origin = _origin(a)
    return origin is not None and origin == _origin(b)


def auth_headers(auth: str, token: str | None) -> dict[str, str]:
    """``token``: the stored token, or under oauth-jwt an access token (a bearer token too)."""
    if token and auth in ("bearer", "oauth-jwt"):
        return {"Authorization": f"Bearer {token}"}
    if token and auth == "functions-key":
        return {"x-functions-key": token}
    return {}


def make_client(config: Config) -> httpx.Client:
    verify: ssl.SSLContext | bool = True
    if config.intake.ca_file is not None and same_host(config.heartbeat.url, config.intake.url):
        verify = httpx.create_ssl_context(trust_env=True)
        try:
            verify.load_verify_locations(cafile=str(config.intake.ca_file))
        except (OSError, ssl.SSLError) as exc:
            log.warning("heartbeat: intake.ca_file cannot be used (%s); the system's authorities are trusted", exc)
            verify = True
    return httpx.Client(verify=verify, trust_env=True, timeout=min(MAX_TIMEOUT_S, config.heartbeat.every_s),
                        headers={"User-Agent": f"relay/{__version__}"})


class Heartbeat:
    def __init__(self, config: Config, *, status: Callable[[], dict[str, Any]], agent_id: str,
                 token: Callable[[], str | None], clock: Clock, client: httpx.Client | None = None) -> None:
        if not config.heartbeat.url:
            raise ValueError("heartbeat.url is not set")
        self.url = config.heartbeat.url
        self.every_s = config.heartbeat.every_s
        self.site = config.heartbeat.site or socket.gethostname()
        self.agent_id = agent_id
        self._config = config
        self._status = status
        self._token = token
        self._clock = clock
        self._client = client or make_client(config)
        self._owns_client = client is None
        self._with_auth = same_host(self.url, config.intake.url) and config.intake.auth != "none"
        self._failing = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.sent = 0  # heartbeats the receiver acknowledged

    def body(self) -> dict[str, Any]:
        try:
            status = self._status()
        except RelayError as exc:  # the outbox cannot be read: say so, which is news worth sending
            status = {"healthy": False, "unhealthy_reasons": [f"The outbox cannot be read: {exc}"]}
        return {"agent_id": self.agent_id, "site": self.site, "version": __version__, "every_s": self.every_s,
                "sent_at": iso(self._clock.now()), "status": status}

    def _headers(self) -> dict[str, str]:
        if not self._with_auth:
            return {}
        try:
            token = self._token()
        except RelayError as exc:  # no keyring: the heartbeat goes without, the receiver may refuse it
            log.debug("heartbeat: no credential (%s)", exc)
            token = None
        return auth_headers(self._config.intake.auth, token)

    def beat(self) -> bool:
        """Post one heartbeat; True when the receiver took it."""
        try:
            response = self._client.post(self.url, json=self.body(), headers=self._headers())
            ok = 200 <= response.status_code < 300
            why = f"HTTP {response.status_code}"
        except httpx.HTTPError as exc:
            ok, why = False, type(exc).__name__
        if ok:
            self.sent += 1
            if self._failing:
                log.info("heartbeat: %s takes heartbeats again", self.url)
            self._failing = False
        elif not self._failing:
            self._failing = True
            log.warning("heartbeat to %s failed (%s); delivery is not affected; further failures are not "
                        "logged until a heartbeat gets through", self.url, why)
        else:
            log.debug("heartbeat to %s failed again (%s)", self.url, why)
        return ok

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="relay-heartbeat", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.beat()
            except Exception:  # a bug: logged with its traceback; heartbeats go on, delivery never notices
                log.exception("heartbeat failed unexpectedly")
            self._stop.wait(self.every_s)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(MAX_TIMEOUT_S + 1)
            self._thread = None
        if self._owns_client:
            self._client.close()
