""""Test connection": is the destination reachable, and does it accept the credential? Sends no results.

The destination the intake URL names does the asking (``Destination.probe``): for https:// one POST
with an empty body and the headers a batch carries. Pure (no Qt); run it on a worker thread.
"""

from __future__ import annotations

import httpx

from relay.clock import SystemClock
from relay.config import Config
from relay.delivery.destinations import DestinationContext, open_destination
from relay.delivery.destinations.base import BAD_CREDENTIAL, OK, UNAVAILABLE, UNREACHABLE, WRONG, ProbeResult
from relay.delivery.destinations.https_probe import interpret
from relay.errors import RelayError

__all__ = ["BAD_CREDENTIAL", "OK", "UNAVAILABLE", "UNREACHABLE", "WRONG", "ProbeResult", "interpret", "probe"]


def probe(config: Config, token: str | None, *, client: httpx.Client | None = None) -> ProbeResult:
    """``token``: the credential to test (the one stored, or one just typed into Settings)."""
    if not config.intake.url:
        return ProbeResult(WRONG, "No intake address is set.")
    try:
        destination = open_destination(DestinationContext(config=config, clock=SystemClock(),
                                                          secret=lambda: token, http_client=client))
    except RelayError as exc:
        return ProbeResult(WRONG, str(exc))
    try:
        return destination.probe()
    finally:
        destination.close()
