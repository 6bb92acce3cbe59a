"""Export selected items to a CSV file a person chose: relay's columns, then the result's own
columns (the union, in order of first appearance). Pure (no Qt); run it on a worker thread.
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from relay.clock import iso
from relay.delivery.wire import item_object
from relay.formats.hl7_view import hl7_fields
from relay.store.models import Item

RELAY_COLUMNS = ("relay_id", "state", "received_at", "source", "source_name", "line", "tracking_id", "attempts",
                 "last_status", "last_error", "receipt", "sent_at")


def fields_of(item: Item) -> list[tuple[str, str]]:
    """The result's own columns and values (the payload), in stored order. Empty after retention."""
    if item.payload is None:
        return []
    # one HL7 v2 message: its main fields in words, then its segments (a CSV row translated to HL7
    # keeps its columns: the row is its content, the message only its wire form)
    if item.kind == "hl7" and item.columns is None:
        return hl7_fields(item.payload)
    value: Any = item_object(item)
    if isinstance(value, dict):
        return [(str(k), v if isinstance(v, str) else "" if v is None else json.dumps(v, ensure_ascii=False))
                for k, v in value.items()]
    return [("value", json.dumps(value, ensure_ascii=False))]


def export_items(items: Sequence[Item], path: Path) -> int:
    """Write ``items`` to ``path`` (UTF-8 with BOM, so spreadsheet programs read accents right).
    Written to a temporary name first: a half-written export never looks finished."""
    payload_columns: dict[str, None] = {}
    rows = []
    for item in items:
        fields = dict(fields_of(item))
        for name in fields:
            payload_columns.setdefault(name, None)
        rows.append((item, fields))
    partial = path.with_name(path.name + ".partial")
    with partial.open("w", encoding="utf-8-sig", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow([*RELAY_COLUMNS, *payload_columns])
        for item, fields in rows:
            writer.writerow([
                item.id, item.state, iso(item.created_at), item.source, item.source_name or "",
                item.line if item.line is not None else "", item.tracking_id or "", item.attempts,
                item.last_status if item.last_status is not None else "", item.last_error or "", item.receipt or "",
                iso(item.sent_at) or "", *(fields.get(c, "") for c in payload_columns),
            ])
    os.replace(partial, path)
    return len(rows)
