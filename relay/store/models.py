"""Plain values the outbox hands out. No behaviour beyond small conveniences."""

from __future__ import annotations

from dataclasses import dataclass, field
from collections.abc import Sequence
from typing import Literal, Protocol, runtime_checkable

from relay.items import ItemKind, NewItem

__all__ = ["STATES", "WAITING_FOR_A_PERSON", "AddResult", "Batch", "BatchSpec", "Content", "FileRecord", "Item",
           "ItemKind", "ItemState", "Member", "NewItem", "Rebuilder"]  # NewItem lives in relay.items; kept here for callers

ItemState = Literal["pending", "sending", "sent", "failed", "dead", "discarded"]
STATES: tuple[ItemState, ...] = ("pending", "sending", "sent", "failed", "dead", "discarded")
WAITING_FOR_A_PERSON: tuple[ItemState, ...] = ("failed", "dead", "discarded")  # what a retry takes back to pending


@dataclass(slots=True)
class Item:
    """An item as read from the outbox. Not frozen on purpose: a frozen dataclass of this width
    costs ten times as much to build, and claims build hundreds per batch. Treat it as read-only."""

    id: int
    state: ItemState
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
    kind: ItemKind = "row"


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
    kind: ItemKind = "row"
    wire: str | None = None  # sent instead of ``payload`` when set (e.g. a row translated to HL7)


@dataclass(frozen=True, slots=True)
class BatchSpec:
    """What the delivery side builds from a group of items: the exact request body."""

    content_type: str
    body: bytes
    item_count: int | None = None  # how many of the offered items the body holds (a prefix); None: all


@runtime_checkable
class Rebuilder(Protocol):
    """A batch builder that forms a body again byte for byte from what the outbox keeps of the
    batch anyway: its members in order, its content type and the moment it was formed. With one,
    the outbox keeps a digest of each body instead of the body (a retry is formed again and must
    match the digest); a plain builder (a callable alone) has its bodies kept whole.

    - ``form``: the body of (a prefix of) ``members`` for a batch formed at ``formed_at``.
    - ``again``: the body of exactly ``members`` as ``form`` made it, chosen by ``content_type``
      (the settings may have changed since; the batch's own type decides) and ``formed_at``.
    """

    def __call__(self, members: Sequence[Content]) -> BatchSpec: ...

    def form(self, members: Sequence[Content], formed_at: float) -> BatchSpec: ...

    def again(self, members: Sequence[Content], content_type: str, formed_at: float) -> BatchSpec: ...


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
