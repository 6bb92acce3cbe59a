"""Shared set-up of the ELR tests: a fixed time of ingest, settings, one-row translation."""

from __future__ import annotations

from collections.abc import Mapping

import hl7

from relay.formats.elr import ElrSettings, ElrTranslator
from relay.hashing import row_hash

NOW = 1_800_000_000.0  # 2027-01-15T08:00:00Z
SETTINGS = ElrSettings(sending_application="relay^2.16.840.1.113883.3.9999^ISO", timezone="America/Chicago")


def translate(row: Mapping[str, str], settings: ElrSettings = SETTINGS, tracking: str | None = "") -> str:
    header = list(row)
    values = [row[c] for c in header]
    if tracking == "":
        tracking = (row.get("Result_ID") or row.get("accession_number") or "").strip() or None
    return ElrTranslator(header, settings).translate(values, tracking_id=tracking,
                                                     content_hash=row_hash(header, values), now=NOW)


def parsed(text: str) -> hl7.Message:
    """python-hl7's reading; ``m["PID.F5.R1.C1"]`` gives a component with escapes resolved."""
    return hl7.parse(text)


def raw(message: hl7.Message, segment: str, number: int, nth: int = 0) -> str:
    """A whole field's text as sent (escapes kept), e.g. raw(m, "PID", 5)."""
    return str(message.segments(segment)[nth][number])
