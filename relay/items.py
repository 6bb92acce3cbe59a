"""What a reader makes of its input and a source hands to the store: neutral values that neither
the formats nor the store own (formats import this, never the store)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

ItemKind = Literal["row", "json", "hl7"]
ITEM_KINDS: tuple[ItemKind, ...] = ("row", "json", "hl7")


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
    kind: ItemKind | None = None  # None: 'row' with columns, else 'json'
    wire: str | None = None  # the form sent on the wire when it differs from ``payload``
