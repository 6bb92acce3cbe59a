"""Destinations (INTERFACE §9): the intake URL's scheme picks the transport.

A destination turns one persisted batch into a ``Decision`` (what the intake's answer means); the
sender keeps only policy (when, how often, what a decision does to the outbox). Each transport is
one module here with one class that satisfies ``Destination``:

    https / http  -> relay.delivery.destinations.https.HttpsDestination
    s3            -> relay.delivery.destinations.s3.S3Destination
    sftp          -> relay.delivery.destinations.sftp.SftpDestination
    mllp / mllps  -> relay.delivery.destinations.mllp.MllpDestination

Modules are imported only when their scheme is used, so a site that sends over HTTPS never loads
an SFTP or S3 client.
"""

from __future__ import annotations

import importlib
from urllib.parse import urlsplit

from relay.delivery.destinations.base import (
    BAD_CREDENTIAL,
    OK,
    UNAVAILABLE,
    UNREACHABLE,
    WRONG,
    Destination,
    DestinationContext,
    ProbeResult,
)
from relay.errors import ConfigError

SCHEMES: dict[str, tuple[str, str]] = {
    "https": ("relay.delivery.destinations.https", "HttpsDestination"),
    "http": ("relay.delivery.destinations.https", "HttpsDestination"),
    "s3": ("relay.delivery.destinations.s3", "S3Destination"),
    "sftp": ("relay.delivery.destinations.sftp", "SftpDestination"),
    "mllp": ("relay.delivery.destinations.mllp", "MllpDestination"),
    "mllps": ("relay.delivery.destinations.mllp", "MllpDestination"),
}


def scheme_of(url: str) -> str:
    return urlsplit(url).scheme.lower()


def open_destination(context: DestinationContext) -> Destination:
    """The destination for ``context.config.intake.url``; a ConfigError naming the key if the scheme
    is not one relay speaks."""
    config = context.config
    url = config.intake.url or ""
    scheme = scheme_of(url)
    if scheme not in SCHEMES:
        known = ", ".join(f"{s}://" for s in SCHEMES)
        raise ConfigError(f"{config.source or 'the configuration'}: intake.url {url!r}: relay sends to {known} "
                          "addresses only")
    module, name = SCHEMES[scheme]
    cls = getattr(importlib.import_module(module), name)
    destination: Destination = cls(context)
    return destination


__all__ = ["BAD_CREDENTIAL", "OK", "UNAVAILABLE", "UNREACHABLE", "WRONG", "Destination", "DestinationContext",
           "ProbeResult", "SCHEMES", "open_destination", "scheme_of"]
