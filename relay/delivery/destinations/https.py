"""The https:// (and loopback http://) destination: POST a batch to the intake (INTERFACE §5, §5a).

It owns the HTTP client, the request headers, the size of what it reads back and the deadline of a
whole answer; ``relay.delivery.answers`` (pure) says what an answer means. With ``auth =
"oauth-jwt"`` it also owns the access token (``relay.delivery.destinations.oauth``).
"""

from __future__ import annotations

import logging
import time
import uuid
from urllib.parse import urlsplit

import httpx

from relay.delivery.answers import Decision, decide
from relay.delivery.destinations.base import (
    BAD_CREDENTIAL,
    OK,
    UNREACHABLE,
    DestinationContext,
    ProbeResult,
    TrackingIds,
)
from relay.delivery.destinations.http_client import answer_deadline, install_deadline, make_http_client
from relay.delivery.destinations.https_probe import interpret
from relay.delivery.destinations.oauth import OAuthFailed, TokenSource
from relay.delivery.wire import CONTENT_TYPES, headers
from relay.errors import EnvironmentProblem
from relay.store.models import Batch

log = logging.getLogger("relay.delivery")

MAX_ANSWER_BYTES = 16 * 1024 * 1024  # receipts and item errors fit many times over
PROBE_TIMEOUT_S = 20.0
NO_CREDENTIAL = "no intake credential is stored: run `relay token set` or set RELAY_TOKEN"


class AnswerTooSlow(httpx.TimeoutException):
    """The answer was still arriving when the deadline passed (a client without the deadline backend)."""


def read_answer(response: httpx.Response, deadline: float, limit: int = MAX_ANSWER_BYTES) -> bytes:
    """The answer's body, read no further than ``limit`` bytes (an intake gone wrong cannot fill
    memory) and no later than ``deadline`` (``time.monotonic()``)."""
    body = bytearray()
    for chunk in response.iter_bytes():
        body += chunk[: limit - len(body)]
        if len(body) >= limit:
            break
        if time.monotonic() > deadline:
            raise AnswerTooSlow("the whole answer did not arrive in time", request=response.request)
    return bytes(body)


class HttpsDestination:
    """One intake address over HTTPS. Thread-safe: httpx's client and the token source are."""

    formats = frozenset({"csv", "ndjson", "json", "hl7"})
    max_items: int | None = None

    def __init__(self, context: DestinationContext) -> None:
        self.context = context
        config = context.config
        if not config.intake.url:
            raise EnvironmentProblem(
                f"{config.source or 'the configuration'}: intake.url is not set; relay does not know where to send")
        self.url = config.intake.url
        self.host = urlsplit(self.url).netloc or self.url
        self.auth = config.intake.auth
        self.timeout_s = config.intake.timeout_s
        self._owns_client = context.http_client is None
        self.client = context.http_client if context.http_client is not None else make_http_client(config)
        install_deadline(self.client)  # also on a client a test or the agent passed in (a no-op for mocks)
        self.tokens: TokenSource | None = None
        if self.auth == "oauth-jwt" and config.intake.oauth is not None:
            self.tokens = TokenSource(config.intake.oauth, client=self.client, clock=context.clock,
                                      secret=context.secret, timeout_s=self.timeout_s)

    # -- delivering ----------------------------------------------------------------------------

    def missing_credential(self) -> str | None:
        """A bearer token or functions key must be stored unless intake.auth is "none"; with oauth-jwt
        the private key is read (and said missing) when a token is asked for."""
        if self.auth in ("none", "oauth-jwt") or self.context.secret():
            return None
        return NO_CREDENTIAL

    def deliver(self, batch: Batch, tracking_ids: TrackingIds) -> Decision:
        try:
            credential = self._credential()
        except OAuthFailed as exc:
            return exc.decision
        if self.auth != "none" and not credential:
            return Decision("pause", None, NO_CREDENTIAL)
        decision = self._post(batch, credential, tracking_ids)
        if decision.status == 401 and self.tokens is not None:
            # The access token may have ended early (a restarted intake): one fresh token, then pause.
            self.tokens.invalidate(credential)
            try:
                decision = self._post(batch, self.tokens.token(), tracking_ids)
            except OAuthFailed as exc:
                return exc.decision
        return decision

    def _credential(self) -> str | None:
        if self.tokens is not None:
            return self.tokens.token()
        return self.context.secret()

    def _post(self, batch: Batch, credential: str | None, tracking_ids: TrackingIds) -> Decision:
        h = headers(client=batch.client, content_type=batch.content_type, key=batch.idempotency_key,
                    payloadname=batch.payloadname, auth=self.auth, token=credential)
        try:
            with answer_deadline(self.timeout_s) as deadline:
                with self.client.stream("POST", self.url, content=batch.body, headers=h,
                                        timeout=self.timeout_s) as response:
                    answer = read_answer(response, deadline)
        except httpx.TimeoutException:
            return Decision("unknown", None, f"no complete answer from the intake within {self.timeout_s:g} s; "
                                             "outcome unknown, the same batch is retried")
        except httpx.TransportError as exc:
            return Decision("unknown", None, transport_reason(exc))
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            return Decision("pause", None, f"cannot send to intake.url {self.url!r}: {exc}")
        decision = decide(response.status_code, answer, {k.lower(): v for k, v in response.headers.items()},
                          now=self.context.clock.now(), n_items=len(batch.item_ids), tracking_ids=tracking_ids)
        if decision.status in (401, 403) and self.tokens is not None:
            return Decision("pause", decision.status, f"the intake refused relay's access token "
                            f"({decision.status}) although the token endpoint issued it: check intake.oauth.scope "
                            "and the sender registered at the intake")
        return decision

    # -- "Test connection" ----------------------------------------------------------------------

    def probe(self) -> ProbeResult:
        """One POST with an empty body and the headers a batch carries: the intake checks the
        credential before it reads a body, so it answers 401/403 for a bad one and 400 for a good
        one; nothing is stored."""
        config = self.context.config
        note = ""
        try:
            credential = self._credential()
        except OAuthFailed as exc:
            outcome = UNREACHABLE if exc.decision.kind == "unknown" else BAD_CREDENTIAL
            return ProbeResult(outcome, exc.decision.message[:1].upper() + exc.decision.message[1:] + ".")
        if self.auth != "none" and not credential:
            note = "No credential is stored, so the intake will most likely refuse relay. "
        h = headers(client=config.intake.client, content_type=CONTENT_TYPES.get(config.intake.format, "text/csv"),
                    key=f"relay-connection-test-{uuid.uuid4()}", payloadname=None, auth=self.auth, token=credential)
        timeout = min(self.timeout_s, PROBE_TIMEOUT_S)
        host = self.host
        try:
            with answer_deadline(timeout) as deadline:
                with self.client.stream("POST", self.url, content=b"", headers=h, timeout=timeout) as response:
                    answer = read_answer(response, deadline, 64 * 1024)
        except httpx.TimeoutException:
            return ProbeResult(UNREACHABLE, f"No answer from {host} within {timeout:g} s.")
        except httpx.ConnectError as exc:
            text = str(exc)
            if "certificate" in text.lower() or "ssl" in text.lower():
                return ProbeResult(UNREACHABLE, f"A secure connection to {host} could not be made: {text}")
            return ProbeResult(UNREACHABLE, f"Could not reach {host}: {text or 'connection refused'}. Check the "
                                            "address and the network.")
        except httpx.HTTPError as exc:
            return ProbeResult(UNREACHABLE, f"Could not talk to {host}: {exc}")
        result = interpret(response.status_code, answer, host)
        if note and result.ok:
            return ProbeResult(OK, f"Connected to {host}: the intake is reachable and did not ask for a credential "
                                   "(none is stored).", result.status)
        if note:
            return ProbeResult(result.outcome, note + result.text, result.status)
        return result

    def close(self) -> None:
        if self._owns_client:
            self.client.close()


def transport_reason(exc: httpx.TransportError) -> str:
    """What a failed exchange means to a person; the outcome is unknown and the batch goes again."""
    if "CERTIFICATE_VERIFY_FAILED" in str(exc):  # TLS refused the intake's certificate
        why = str(exc).split("] ", 1)[-1].split(" (_ssl", 1)[0]
        return (f"the intake's TLS certificate is not trusted ({why}); if it comes from your organisation's own "
                "certificate authority, set intake.ca_file; the same batch is retried")
    return f"could not reach the intake ({type(exc).__name__}); the same batch is retried"


__all__ = ["HttpsDestination", "MAX_ANSWER_BYTES", "read_answer", "transport_reason"]
