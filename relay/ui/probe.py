""""Test connection": is the intake reachable, and does it accept the credential? Sends no results.

The probe is one POST with an empty body to the intake address, with the same headers a batch
carries (client, content type, credential, a fresh Idempotency-Key). The intake checks the
credential before it reads a body, so it answers 401/403 for a bad credential and, with a good
one, 400 because the body is empty: nothing is stored. Pure (no Qt); run it on a worker thread.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx

from relay.agent import make_http_client
from relay.config import Config
from relay.delivery.wire import CONTENT_TYPES, headers

OK = "ok"  # reachable, credential accepted
BAD_CREDENTIAL = "bad_credential"
UNAVAILABLE = "unavailable"  # reachable, but busy or in maintenance: the credential is not known yet
UNREACHABLE = "unreachable"
WRONG = "wrong"  # reachable, but the address or the sender is not right


@dataclass(frozen=True)
class ProbeResult:
    outcome: str
    text: str
    status: int | None = None

    @property
    def ok(self) -> bool:
        return self.outcome == OK


def _message(body: bytes) -> str:
    try:
        data = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return ""
    if isinstance(data, dict):
        for key in ("message", "error", "detail", "title"):
            if isinstance(data.get(key), str) and data[key].strip():
                return data[key].strip()
        errors = data.get("errors")
        if isinstance(errors, list) and errors and isinstance(errors[0], dict):
            return str(errors[0].get("message") or "")
    return ""


def interpret(status: int, body: bytes, host: str) -> ProbeResult:
    said = _message(body)
    extra = f" The intake said: {said}" if said else ""
    if status in (401, 403):
        return ProbeResult(BAD_CREDENTIAL, f"{host} is reachable, but it rejected the credential ({status}). "
                                           "Store the current credential and test again." + extra, status)
    if status == 410:
        return ProbeResult(WRONG, f"{host} says this sender has been retired (410). Contact the intake's "
                                  "administrators." + extra, status)
    if status in (404, 405):
        return ProbeResult(WRONG, f"{host} is reachable, but there is no intake at this address ({status}). "
                                  "Check the URL." + extra, status)
    if status in (429, 503):
        return ProbeResult(UNAVAILABLE, f"{host} is reachable but not taking results right now ({status}), "
                                        "so the credential could not be checked. Try again later." + extra, status)
    if 200 <= status < 300 or status in (400, 409, 413, 415, 422):
        return ProbeResult(OK, f"Connected to {host}: the intake is reachable and accepted the credential "
                               f"(it answered {status} to an empty test request; no results were sent).", status)
    if status >= 500:
        return ProbeResult(UNAVAILABLE, f"{host} answered with a server error ({status}); relay keeps retrying "
                                        "when this happens." + extra, status)
    return ProbeResult(WRONG, f"{host} gave an unexpected answer ({status})." + extra, status)


def probe(config: Config, token: str | None, *, client: httpx.Client | None = None) -> ProbeResult:
    url = config.intake.url
    if not url:
        return ProbeResult(WRONG, "No intake address is set.")
    host = urlsplit(url).netloc or url
    if config.intake.auth != "none" and not token:
        note = "No credential is stored, so the intake will most likely refuse relay. "
    else:
        note = ""
    h = headers(client=config.intake.client, content_type=CONTENT_TYPES[config.intake.format],
                key=f"relay-connection-test-{uuid.uuid4()}", payloadname=None, auth=config.intake.auth, token=token)
    own = client is None
    http = client or make_http_client(config)
    timeout = min(config.intake.timeout_s, 20.0)
    try:
        response = http.post(url, content=b"", headers=h, timeout=timeout)
    except httpx.TimeoutException:
        return ProbeResult(UNREACHABLE, f"No answer from {host} within {timeout:g} s.")
    except httpx.ConnectError as exc:
        text = str(exc)
        if "certificate" in text.lower() or "ssl" in text.lower():
            return ProbeResult(UNREACHABLE, f"A secure connection to {host} could not be made: {text}")
        return ProbeResult(UNREACHABLE, f"Could not reach {host}: {text or 'connection refused'}. Check the address "
                                        "and the network.")
    except httpx.HTTPError as exc:
        return ProbeResult(UNREACHABLE, f"Could not talk to {host}: {exc}")
    finally:
        if own:
            http.close()
    result = interpret(response.status_code, response.content, host)
    if note and result.ok:
        return ProbeResult(OK, f"Connected to {host}: the intake is reachable and did not ask for a credential "
                               "(none is stored).", result.status)
    if note:
        return ProbeResult(result.outcome, note + result.text, result.status)
    return result
