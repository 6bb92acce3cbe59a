"""Access tokens for ``auth = "oauth-jwt"`` (INTERFACE §5a): RFC 7523 client assertions, as
ReportStream and SMART Backend Services take them.

Each token request posts ``grant_type=client_credentials``, the jwt-bearer assertion type, a fresh
assertion (iss = sub = client_id, aud, exp at most 5 minutes ahead, a unique jti, signed ES384 or
RS384) and the scope. The access token is kept until 30 s before it runs out (for tokens shorter
than a minute: until half their life), on the injected clock.
"""

from __future__ import annotations

import json
import logging
import threading
import uuid
from collections.abc import Callable
from typing import Any

import httpx

from relay.clock import Clock
from relay.config import OAuthConfig
from relay.delivery.answers import Decision
from relay.delivery.destinations.http_client import answer_deadline
from relay.oauth_keys import KeyProblem, SigningKey, load_file, parse_key

log = logging.getLogger("relay.delivery")

GRANT_TYPE = "client_credentials"
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
ASSERTION_LIFETIME_S = 300
REFRESH_MARGIN_S = 30.0
MAX_TOKEN_ANSWER = 64 * 1024


class OAuthFailed(Exception):
    """No access token: ``decision`` says what the sender does (pause with a plain reason, or an
    unknown outcome that is retried)."""

    def __init__(self, decision: Decision) -> None:
        super().__init__(decision.message)
        self.decision = decision


def _pause(reason: str, status: int | None = None) -> OAuthFailed:
    return OAuthFailed(Decision("pause", status, reason))


class TokenSource:
    """Thread-safe: one token request at a time; the others wait for its token."""

    def __init__(self, oauth: OAuthConfig, *, client: httpx.Client, clock: Clock,
                 secret: Callable[[], str | None], timeout_s: float) -> None:
        self.oauth = oauth
        self.client = client
        self.clock = clock
        self.secret = secret
        self.timeout_s = timeout_s
        self._lock = threading.Lock()
        self._token: str | None = None
        self._good_until = 0.0

    def token(self) -> str:
        with self._lock:
            now = self.clock.now()
            if self._token is None or now >= self._good_until:
                self._token, lifetime = self._fetch(now)
                self._good_until = now + max(0.0, lifetime - min(REFRESH_MARGIN_S, lifetime / 2))
            return self._token

    def held(self) -> str | None:
        """The token held, while it is still good; never asks the endpoint (and never waits for a
        request another thread has made of it)."""
        if not self._lock.acquire(blocking=False):
            return None
        try:
            if self._token is not None and self.clock.now() < self._good_until:
                return self._token
            return None
        finally:
            self._lock.release()

    def invalidate(self, token: str | None) -> None:
        """The intake refused ``token``: the next ``token()`` asks for a fresh one."""
        with self._lock:
            if token is None or token == self._token:
                self._token = None

    # -- the assertion and the request ----------------------------------------------------------

    def signing_key(self) -> SigningKey:
        try:
            if self.oauth.key_file is not None:
                return load_file(self.oauth.key_file)
            stored = self.secret()
            if not stored:
                raise _pause("no private key is stored for intake.oauth: run `relay token keygen` (and register "
                             "the public key it prints with the intake) or `relay token set --key FILE`")
            return parse_key(stored)
        except KeyProblem as exc:
            raise _pause(f"the oauth-jwt private key cannot be used: {exc}") from exc
        except OSError as exc:
            raise _pause(f"the oauth-jwt private key cannot be read: {exc}") from exc

    def assertion(self, now: float, key: SigningKey | None = None) -> str:
        import jwt  # PyJWT and cryptography's X.509 parts: 70 ms of every start, needed only here

        key = key or self.signing_key()
        claims = {"iss": self.oauth.client_id, "sub": self.oauth.client_id, "aud": self.oauth.aud,
                  "iat": int(now), "exp": int(now) + ASSERTION_LIFETIME_S, "jti": str(uuid.uuid4())}
        return jwt.encode(claims, key.key, algorithm=key.algorithm, headers={"kid": self.oauth.kid})

    def _fetch(self, now: float) -> tuple[str, float]:
        form = {"grant_type": GRANT_TYPE, "client_assertion_type": ASSERTION_TYPE,
                "client_assertion": self.assertion(now), "scope": self.oauth.scope}
        url = self.oauth.token_url
        try:
            with answer_deadline(self.timeout_s):
                response = self.client.post(url, data=form, timeout=self.timeout_s)
        except httpx.TimeoutException as exc:
            raise OAuthFailed(Decision("unknown", None, f"no access token: the token endpoint {url} did not answer "
                                                        f"within {self.timeout_s:g} s; tried again later")) from exc
        except httpx.TransportError as exc:
            raise OAuthFailed(Decision("unknown", None, f"no access token: could not reach the token endpoint "
                                                        f"{url} ({type(exc).__name__}); tried again later")) from exc
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            raise _pause(f"cannot ask intake.oauth.token_url {url!r} for a token: {exc}") from exc
        status = response.status_code
        data = _json(response.content[:MAX_TOKEN_ANSWER])
        if status in (429, 503) or status >= 500:
            raise OAuthFailed(Decision("unknown", status, f"no access token: the token endpoint answered {status}; "
                                                          "tried again later"))
        if not 200 <= status < 300:
            said = _said(data, response.content)
            raise _pause(f"the token endpoint refused relay's client assertion ({status}): {said}; check "
                         f"intake.oauth and the public key registered for {self.oauth.client_id}", status)
        token = data.get("access_token") if isinstance(data, dict) else None
        if not isinstance(token, str) or not token:
            raise OAuthFailed(Decision("unknown", status, "the token endpoint answered without an access_token; "
                                                          "tried again later"))
        expires = data.get("expires_in") if isinstance(data, dict) else None
        lifetime = float(expires) if isinstance(expires, (int, float)) and not isinstance(expires, bool) else 300.0
        log.info("access token obtained from the token endpoint (valid %g s)", lifetime)
        return token, max(0.0, lifetime)


def _json(body: bytes) -> Any:
    try:
        return json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return None


def _said(data: Any, body: bytes) -> str:
    if isinstance(data, dict):
        for key in ("error_description", "message", "error"):
            if isinstance(data.get(key), str) and data[key].strip():
                return str(data[key]).strip()
    text = " ".join(body.decode("utf-8", "replace").split())[:300]
    return text or "no reason given"
