"""HL7 v2 original-mode acknowledgements (INTERFACE §8): one ACK per MLLP frame.

``MSH|^~\\&|relay|<site>|<MSH-3>|<MSH-4>|<now>||ACK^<trigger>^ACK|<new id>|P|<MSH-12>`` then
``MSA|<code>|<control id>``; an ``ERR`` segment says why for AR and AE. The ACK uses the
separators of the message it answers, so echoed fields read the same.
"""

from __future__ import annotations

import itertools
import os
import time
from datetime import datetime, timezone

from relay.formats.hl7 import Header

AA, AE, AR = "AA", "AE", "AR"
# HL7 table 0357: what went wrong, for ERR-3
UNSUPPORTED = "200^Unsupported message type^HL70357"
INTERNAL = "207^Application internal error^HL70357"
_DEFAULT = Header("|", "^~\\&", "", "", "", "", "2.5.1")
_counter = itertools.count(1)
_PREFIX = f"{os.getpid() % 100000:05d}{int(time.time()) % 100000:05d}"


def new_control_id() -> str:
    """Unique per process run: pid, start time and a counter (at most 20 characters, MSH-10's limit)."""
    return f"R{_PREFIX}{next(_counter) % 10**9:09d}"


def _clean(text: str, header: Header) -> str:
    """Free text made safe inside a field: no separators, no line ends."""
    for ch in header.field_sep + header.encoding + "\r\n":
        text = text.replace(ch, " ")
    return text[:200]


def ack(code: str, control_id: str, *, header: Header | None = None, site: str = "", error: str | None = None,
        error_code: str | None = None, now: datetime | None = None) -> bytes:
    """The ACK message (segments ended by CR), UTF-8 encoded."""
    h = header or _DEFAULT
    fs, comp = h.field_sep, h.encoding[0]
    stamp = (now or datetime.now(timezone.utc)).strftime("%Y%m%d%H%M%S%z")
    msh_type = comp.join(("ACK", _clean(h.trigger, h), "ACK")) if h.trigger else comp.join(("ACK", "", "ACK"))
    msh = fs.join(("MSH", h.encoding, "relay", _clean(site, h), h.sending_application, h.sending_facility, stamp,
                   "", msh_type, new_control_id(), "P", h.version or "2.5.1"))
    msa = fs.join(("MSA", code, _clean(control_id, h)) + ((_clean(error, h),) if error else ()))
    segments = [msh, msa]
    if error:
        code_field = error_code or (INTERNAL if code == AE else UNSUPPORTED)
        if comp != "^":
            code_field = code_field.replace("^", comp)
        segments.append(fs.join(("ERR", "", "", code_field, "E", "", "", "", _clean(error, h))))
    return ("\r".join(segments) + "\r").encode("utf-8")


def ack_code(ack_bytes: bytes) -> tuple[str, str]:
    """(MSA-1, MSA-2) of an acknowledgement: for tests and the demo's sender."""
    for segment in ack_bytes.replace(b"\n", b"\r").split(b"\r"):
        if segment.startswith(b"MSA"):
            fields = segment.decode("utf-8", "replace").split(segment[3:4].decode("latin-1"))
            return (fields[1] if len(fields) > 1 else ""), (fields[2] if len(fields) > 2 else "")
    return "", ""
