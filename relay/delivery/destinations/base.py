"""The Destination seam (like litestream's ReplicaClient, httpx's transports).

One small interface: ``deliver(batch) -> Decision``, ``probe() -> ProbeResult``, ``close()``. A
destination owns its client, its headers or names, its size limits and the reading of its answers;
it never touches the outbox. Everything a destination needs from the rest of relay comes in one
``DestinationContext``, so tests build one with a real config, a fake clock and a real peer on
loopback.

Exactly-once: the batch's persisted ``idempotency_key`` and ``created_at`` (its formation time) are
the only inputs to names, keys and message ids, so a retry after a lost answer writes the same name
with the same bytes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from relay.clock import Clock
from relay.config import Config
from relay.delivery.answers import Decision
from relay.errors import ConfigError
from relay.store.models import Batch

if TYPE_CHECKING:
    import httpx

# Outcomes of "Test connection" (probe), shared by every transport and shown by the window.
OK = "ok"  # reachable, credential accepted
BAD_CREDENTIAL = "bad_credential"
UNAVAILABLE = "unavailable"  # reachable, but busy or in maintenance: the credential is not known yet
UNREACHABLE = "unreachable"
WRONG = "wrong"  # reachable, but the address or the sender is not right


@dataclass(frozen=True)
class ProbeResult:
    outcome: str
    text: str  # a plain sentence for the person who pressed "Test connection"
    status: int | None = None

    @property
    def ok(self) -> bool:
        return self.outcome == OK


@dataclass
class DestinationContext:
    """What a destination may use. ``secret`` reads the stored credential (bearer token, S3 secret
    key, SFTP password or key, oauth private key) from the keyring or RELAY_TOKEN each time it is
    called, so a credential stored while relay runs is used at once."""

    config: Config
    clock: Clock
    secret: Callable[[], str | None]
    http_client: httpx.Client | None = None  # injected by tests (MockTransport) or shared by the agent
    extras: dict[str, Any] = field(default_factory=dict)  # transport-specific injections for tests


TrackingIds = Callable[[], list[str | None]]


def scheme_settings(context: DestinationContext, scheme: str) -> Any:
    """The parsed ``[intake.<scheme>]`` settings a destination is built from (``s3``, ``sftp``,
    ``mllp``); a ConfigError in plain words when the address is not of that scheme."""
    config = context.config
    settings = getattr(config.intake.destination, scheme)
    if settings is None:
        raise ConfigError(f"{config.source or 'the configuration'}: intake.url: not an {scheme}:// address")
    return settings


class Destination(Protocol):
    """One intake address. Thread-safe for ``intake.max_in_flight`` concurrent ``deliver`` calls."""

    #: the body builders this destination carries ("csv", "ndjson", "json", "hl7"); the sender refuses
    #: at start a source whose items it cannot carry (INTERFACE §9).
    formats: frozenset[str]
    #: at most this many items a batch (None: intake.batch_max_items). MLLP says 1: one message a
    #: frame, so a lost ACK makes the sender resend that one message and nothing that was acknowledged.
    max_items: int | None

    # Optional: ``missing_credential() -> str | None`` (see ``NeedsCredential``). A destination that
    # has it says whether it needs a stored secret and whether one is there; one without it needs none.

    def deliver(self, batch: Batch, tracking_ids: TrackingIds) -> Decision:
        """Send ``batch.body`` (exactly these bytes) and say what the answer means. Never raises for
        anything the peer or the network does: that is a Decision ("unknown" when the outcome is
        not known). ``tracking_ids`` gives the batch members' tracking ids in body order, looked up
        only when an answer names items that way."""
        ...

    def probe(self) -> ProbeResult:
        """Is the destination reachable and does it accept the credential? Sends no results."""
        ...

    def close(self) -> None:
        """Release connections; an in-flight ``deliver`` may fail (its batch is retried, same key)."""
        ...


@runtime_checkable
class NeedsCredential(Protocol):
    """The optional part of a Destination: the destination's own answer to "does it need a stored
    secret (keyring or RELAY_TOKEN), and is it there?"."""

    def missing_credential(self) -> str | None:
        """None when the destination can send as things are (no secret needed, or one is stored);
        else a plain reason naming `relay token set`, with which the sender pauses."""
        ...


def missing_credential(destination: object) -> str | None:
    """The destination's answer, or None for a destination that needs no stored secret."""
    if isinstance(destination, NeedsCredential):
        return destination.missing_credential()
    return None
