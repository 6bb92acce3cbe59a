"""What an intake's answer to the empty "Test connection" request means, in plain words. Pure."""

from __future__ import annotations

import json

from relay.delivery.destinations.base import BAD_CREDENTIAL, OK, UNAVAILABLE, WRONG, ProbeResult


def _message(body: bytes) -> str:
    try:
        data = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return ""
    if isinstance(data, dict):
        for key in ("message", "error", "detail", "title"):
            if isinstance(data.get(key), str) and data[key].strip():
                return str(data[key]).strip()
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
