"""Plain values the outbox hands out. No behaviour beyond small conveniences."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

STATES = ("pending", "sending", "sent", "failed", "dead", "discarded")
WAITING_FOR_A_PERSON = ("failed", "dead", "discarded")  # the states a retry takes back to pending


@dataclass(frozen=True, slots=True)
class NewItem:
    """An item about to enter the outbox.

    ``columns`` is the row's column names for a tabular item (``payload`` is then a JSON array of
    values in that order) or None for a JSON document (``payload`` is its JSON text).
    """

    content_hash: str
    payload: str
    tracking_id: str | None = None
    columns: tuple[str, ...] | None = None
    line: int | None = None
    kind: str | None = None  # 'row' | 'json' | 'hl7'; None: 'row' with columns, else 'json'
    wire: str | None = None  # the form sent on the wire when it differs from ``payload``


@dataclass(slots=True)
class Item:
    """An item as read from the outbox. Not frozen on purpose: a frozen dataclass of this width
    costs ten times as much to build, and claims build hundreds per batch. Treat it as read-only."""

    id: int
    state: str
    source: str
    source_name: str | None
    line: int | None
    client: str
    tracking_id: str | None
    content_hash: str
    columns: tuple[str, ...] | None
    payload: str | None
    attempts: int
    next_attempt_at: float
    batch_id: int | None
    last_status: int | None
    last_error: str | None
    receipt: str | None
    created_at: float
    updated_at: float
    sent_at: float | None
    forced: bool = False
    kind: str = "row"  # 'row' | 'json' | 'hl7'


class Content(Protocol):
    """What building a batch body needs of an item (an ``Item`` or a ``Member``)."""

    @property
    def id(self) -> int: ...
    @property
    def columns(self) -> tuple[str, ...] | None: ...
    @property
    def payload(self) -> str | None: ...


@dataclass(slots=True)
class Member:
    """An item as a batch is formed from it: its id and content, nothing else (cheap to read)."""

    id: int
    columns: tuple[str, ...] | None
    payload: str | None
    kind: str = "row"
    wire: str | None = None  # sent instead of ``payload`` when set (e.g. a row translated to HL7)


@dataclass(frozen=True, slots=True)
class BatchSpec:
    """What the delivery side builds from a group of items: the exact request body."""

    content_type: str
    body: bytes
    item_count: int | None = None  # how many of the offered items the body holds (a prefix); None: all


@dataclass(frozen=True, slots=True)
class Batch:
    id: int
    idempotency_key: str
    state: str
    client: str
    content_type: str
    payloadname: str | None
    body: bytes
    item_ids: tuple[int, ...]  # in body order: position i+1 is item_ids[i]
    attempts: int
    next_attempt_at: float
    created_at: float


@dataclass(slots=True)
class AddResult:
    """What happened to each item offered to the outbox, in offer order."""

    ids: list[int] = field(default_factory=list)  # new item id, or the original's id for a duplicate
    duplicate: list[bool] = field(default_factory=list)

    @property
    def accepted(self) -> int:
        return self.duplicate.count(False)

    @property
    def duplicates(self) -> int:
        return self.duplicate.count(True)


@dataclass(frozen=True, slots=True)
class FileRecord:
    id: int
    name: str
    path: str | None
    file_hash: str
    outcome: str
    rows_accepted: int
    rows_duplicate: int
    rows_rejected: int
    blank_rows: int
    reason: str | None
    moved_to: str | None
    created_at: float
