"""Object and file names of a batch (INTERFACE §9), made only from what is persisted with it.

A retry after a lost answer, a restart or a crash names the batch the same way: the name depends
on the batch's key, client, formation time and content type, and on the configuration, never on
the clock at sending time.
"""

from __future__ import annotations

import re
from datetime import datetime, timezone

from relay.store.models import Batch

EXTENSIONS = {
    "text/csv": "csv",
    "application/x-ndjson": "ndjson",
    "application/json": "json",
    "application/hl7-v2": "hl7",
}
# Characters a value may bring into a name: letters, digits and . _ - ~ (safe in S3 keys, on every
# file system and in URLs); anything else becomes "_".
_UNSAFE = re.compile(r"[^A-Za-z0-9._~-]")


def extension(content_type: str) -> str:
    return EXTENSIONS.get(content_type.split(";", 1)[0].strip().lower(), "dat")


def timestamp(created_at: float) -> str:
    """The batch's formation time, UTC, as yyyyMMddHHmmssSSS (what AIMS file names carry)."""
    when = datetime.fromtimestamp(created_at, timezone.utc)
    return when.strftime("%Y%m%d%H%M%S") + f"{when.microsecond // 1000:03d}"


def safe(value: str) -> str:
    cleaned = _UNSAFE.sub("_", value)
    return cleaned.lstrip(".") or "_"  # never a hidden file or "." / ".."


def fields(batch: Batch, *, sender: str | None, env: str | None) -> dict[str, str]:
    return {
        "client": safe(batch.client),
        "timestamp": timestamp(batch.created_at),
        "key": safe(batch.idempotency_key),
        "ext": extension(batch.content_type),
        "sender": safe(sender or ""),
        "env": safe(env or ""),
        "batch": str(batch.id),
    }


def render(template: str, values: dict[str, str]) -> str:
    """``template`` with its placeholders filled (relay.destination_config checked them at load)."""
    return template.format_map(values)
