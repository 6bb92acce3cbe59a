"""``POST /api/token``: access tokens for signed client assertions (RFC 7523), as ReportStream's
token endpoint and SMART Backend Services issue them.

The form carries ``grant_type=client_credentials``,
``client_assertion_type=urn:ietf:params:oauth:client-assertion-type:jwt-bearer``, the assertion
and a ``scope``. The assertion must be signed (ES384, RS384 or RS256) by the public key registered
for its ``kid`` or ``iss`` (``--jwt-key CLIENT=PEMFILE``), have ``iss`` = ``sub`` = that client,
``aud`` naming this endpoint (its host, host:port or URL), ``exp`` in the future but at most 5
minutes ahead, and a ``jti`` never seen before. Refusals say why in plain words
(``error_description``). Issued tokens last ``token_ttl_s`` on the stub's clock.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qs

import jwt
from cryptography.hazmat.primitives.serialization import load_pem_public_key
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from server_stub.clock import Clock
from server_stub.responses import iso

log = logging.getLogger("server_stub.tokens")

GRANT_TYPE = "client_credentials"
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
ALGORITHMS = ["ES384", "RS384", "RS256"]
MAX_ASSERTION_AHEAD_S = 300
LEEWAY_S = 5
MAX_FORM_BYTES = 64 * 1024


def load_keys(pems: Mapping[str, str]) -> dict[str, Any]:
    """client -> public key, from PEM text (ValueError naming the client for a bad one)."""
    keys = {}
    for client, pem in pems.items():
        try:
            keys[client] = load_pem_public_key(pem.encode("ascii", "replace"))
        except ValueError as exc:
            raise ValueError(f"--jwt-key {client}: not a PEM public key") from exc
    return keys


class TokenIssuer:
    def __init__(self, keys: Mapping[str, str], ttl_s: float, clock: Clock) -> None:
        self._keys = load_keys(keys)
        self._ttl_s = ttl_s
        self._clock = clock
        self._tokens: dict[str, tuple[str, float]] = {}  # access token -> (client, expires at)
        self._jtis: dict[str, float] = {}  # jti -> the assertion's exp (forgotten after it)
        self.issued = 0
        self.refused = 0

    @property
    def enabled(self) -> bool:
        return bool(self._keys)

    def valid(self, token: str) -> bool:
        entry = self._tokens.get(token)
        return entry is not None and entry[1] > self._clock.now()

    async def handle(self, request: Request) -> Response:
        body = await request.body()
        if len(body) > MAX_FORM_BYTES:
            return self._refuse(400, "invalid_request", "the token request is too large")
        form = {k: v[0] for k, v in parse_qs(body.decode("utf-8", "replace")).items() if v}
        if form.get("grant_type") != GRANT_TYPE:
            return self._refuse(400, "unsupported_grant_type", f"grant_type must be {GRANT_TYPE}")
        if form.get("client_assertion_type") != ASSERTION_TYPE:
            return self._refuse(400, "invalid_request", f"client_assertion_type must be {ASSERTION_TYPE}")
        if not form.get("scope"):
            return self._refuse(400, "invalid_scope", "a scope is required")
        assertion = form.get("client_assertion", "")
        if not assertion:
            return self._refuse(400, "invalid_request", "client_assertion is missing")
        return self._check(request, assertion, form["scope"])

    def _check(self, request: Request, assertion: str, scope: str) -> Response:
        try:
            header = jwt.get_unverified_header(assertion)
            unverified = jwt.decode(assertion, options={"verify_signature": False})
        except jwt.PyJWTError:
            return self._refuse(400, "invalid_request", "the client assertion is not a JWT")
        client = str(header.get("kid") or "")
        if client not in self._keys:
            client = str(unverified.get("iss") or "")
        if client not in self._keys:
            return self._refuse(401, "invalid_client", f"no public key is registered for {client or 'this sender'!r}")
        try:
            claims = jwt.decode(assertion, self._keys[client], algorithms=ALGORITHMS,
                                options={"verify_exp": False, "verify_aud": False, "verify_iat": False,
                                         "verify_nbf": False, "require": ["iss", "sub", "aud", "exp", "jti"]})
        except jwt.InvalidSignatureError:
            return self._refuse(401, "invalid_client", "the client assertion's signature does not verify with "
                                                       f"the public key registered for {client!r}")
        except jwt.MissingRequiredClaimError as exc:
            return self._refuse(400, "invalid_request", f"the client assertion has no {exc.claim!r} claim")
        except jwt.PyJWTError as exc:
            return self._refuse(401, "invalid_client", f"the client assertion cannot be verified ({exc})")
        now = self._clock.now()
        if claims["iss"] != claims["sub"]:
            return self._refuse(401, "invalid_client", "the client assertion's iss and sub differ")
        if claims["iss"] != client:
            return self._refuse(401, "invalid_client", f"the client assertion's iss {claims['iss']!r} is not the "
                                                       f"sender its key is registered for ({client!r})")
        audiences = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
        mine = {request.url.hostname, request.url.netloc, str(request.url).split("?")[0]}
        if not mine.intersection(str(a) for a in audiences):
            return self._refuse(401, "invalid_client", f"the client assertion is for {claims['aud']!r}, not for "
                                                       f"this token endpoint ({request.url.hostname})")
        exp = claims["exp"]
        if not isinstance(exp, (int, float)) or exp <= now - LEEWAY_S:
            return self._refuse(401, "invalid_client", f"the client assertion expired at {iso(float(exp))} (it is "
                                                       f"now {iso(now)} here): is the sender's clock right?")
        if exp > now + MAX_ASSERTION_AHEAD_S + LEEWAY_S:
            return self._refuse(401, "invalid_client", "the client assertion expires more than 5 minutes ahead "
                                                       f"(at {iso(float(exp))}; it is now {iso(now)} here)")
        jti = str(claims["jti"])
        self._jtis = {k: v for k, v in self._jtis.items() if v > now - LEEWAY_S}
        if jti in self._jtis:
            return self._refuse(401, "invalid_client", "the client assertion's jti was used before: every "
                                                       "assertion needs a new one")
        self._jtis[jti] = float(exp)
        token = secrets.token_urlsafe(32)
        self._tokens = {k: v for k, v in self._tokens.items() if v[1] > now}
        self._tokens[token] = (client, now + self._ttl_s)
        self.issued += 1
        return JSONResponse({"access_token": token, "token_type": "bearer", "expires_in": self._ttl_s,
                             "expires_at_seconds": int(now + self._ttl_s), "scope": scope, "sub": client})

    def _refuse(self, status: int, error: str, description: str) -> Response:
        self.refused += 1
        log.info("token request refused: %s", description)
        return JSONResponse({"error": error, "error_description": description}, status)
