"""HL7 v2 reader (INTERFACE §8): bytes in -> one item per message, or a reject with its reason.

Takes single messages, FHS/BHS batches and MLLP-framed files; segment separators CR, LF or CRLF;
the encoding characters of each message's MSH-2; text decoded per MSH-18 (default UTF-8, falling
back to Windows-1252). The input is read as a stream of chunks, so a file of any size is read with
flat memory. No store and no file writes here.

Splitting is done here rather than with python-hl7's ``hl7.parse``: relay needs only the segments,
a few MSH fields and the canonical form, and ``hl7.parse`` builds the whole tree (about 1.6 ms for
a 1.3 KB message on the machines here, against some 20 µs for this reader), which would cap the
MLLP listener and a 10,000-message file far below what a lab sends. The tests check this reader
against python-hl7 on the same messages.

The content hash is SHA-256 over the canonical form: segments joined by CR, trailing empty
fields, repetitions, components and subcomponents trimmed, MSH-7 and MSH-10 emptied, so the same
result sent again with a new time and control id is a duplicate.
"""

from __future__ import annotations

import codecs
import hashlib
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from relay.store.models import NewItem

KIND = "hl7"
_ENDS = re.compile(rb"[\r\n\x0b\x1c]+")  # segment ends and MLLP frame bytes (0x0B start, 0x1C end)
_SEGMENT_ID = re.compile(r"[A-Z][A-Z0-9]{2}\Z")
_ENVELOPE = (b"FHS", b"BHS", b"BTS", b"FTS")
FALLBACK = "cp1252"
# HL7 table 0211 (MSH-18) -> Python codec. UTF-16/32 are not byte-compatible with the separators.
_CHARSETS = {
    "ASCII": "ascii", "ISO IR6": "ascii", "UNICODE UTF-8": "utf-8", "ISO IR192": "utf-8", "UTF-8": "utf-8",
    "8859/1": "latin-1", "ISO IR100": "latin-1", "8859/2": "iso8859-2", "8859/3": "iso8859-3",
    "8859/4": "iso8859-4", "8859/5": "iso8859-5", "8859/6": "iso8859-6", "8859/7": "iso8859-7",
    "8859/8": "iso8859-8", "8859/9": "iso8859-9", "8859/15": "iso8859-15", "ISO IR144": "iso8859-5",
    "ISO IR127": "iso8859-6", "ISO IR126": "iso8859-7", "ISO IR138": "iso8859-8", "ISO IR148": "iso8859-9",
    "BIG-5": "big5", "GB 18030-2000": "gb18030", "CNS 11643-1992": "big5", "KS X 1001": "euc-kr",
    "ISO IR87": "iso2022-jp", "ISO IR159": "iso2022-jp-2", "WINDOWS-1252": "cp1252",
}
_UNSUPPORTED = ("UNICODE", "UNICODE UTF-16", "UNICODE UTF-32")


@dataclass(slots=True)
class Hl7Reject:
    """A message (or stray text) that cannot be used. ``raw``: its segments as read, CR-joined."""

    number: int  # 1-based position among the messages of the input
    reason: str
    raw: bytes


@dataclass(frozen=True, slots=True)
class Header:
    """What an acknowledgement echoes of a message's MSH."""

    field_sep: str
    encoding: str  # MSH-2
    sending_application: str  # MSH-3
    sending_facility: str  # MSH-4
    trigger: str  # MSH-9.2
    control_id: str  # MSH-10
    version: str  # MSH-12


@dataclass(slots=True)
class Hl7Item:
    item: NewItem
    header: Header


def looks_like_hl7(head: bytes) -> bool:
    """"auto" format: the first non-blank bytes are MSH|, FHS|, BHS| or an MLLP start byte."""
    head = head.removeprefix(codecs.BOM_UTF8).lstrip(b" \t\r\n\x00")
    return head[:1] == b"\x0b" or head[:4] in (b"MSH|", b"FHS|", b"BHS|")


def codec_for(charset: str) -> str | None:
    """The Python codec for an MSH-18 value (first repetition); None when relay cannot read it."""
    name = charset.strip().upper()
    if not name:
        return "utf-8"
    if name in _UNSUPPORTED:
        return None
    return _CHARSETS.get(name, "utf-8")


class Hl7Reader:
    """Iterate over ``Hl7Item`` and ``Hl7Reject`` from chunks of bytes, in input order.

    After iteration: ``messages`` (good), ``rejected``, ``fhs_control_id`` / ``bhs_control_id``
    (FHS-11 / BHS-11), ``batch_counts`` (BTS-1 values as read), ``first`` (the first good header).
    """

    def __init__(self, chunks: Iterable[bytes]) -> None:
        self._chunks = chunks
        self.messages = 0
        self.rejected = 0
        self.fhs_control_id: str | None = None
        self.bhs_control_id: str | None = None
        self.first: Header | None = None
        self.first_control_id: str | None = None  # MSH-10 of the first message, good or not

    def __iter__(self) -> Iterator[Hl7Item | Hl7Reject]:
        number = 0
        current: list[bytes] = []
        stray: list[bytes] = []
        for line in _segments(self._chunks):
            head = line[:3]
            if head == b"MSH" or head in _ENVELOPE:
                if stray:
                    number += 1
                    yield self._reject(number, "text that is not part of an HL7 message (no MSH segment "
                                               "before it)", stray)
                    stray = []
                if current:
                    number += 1
                    yield self._message(number, current)
                current = [line] if head == b"MSH" else []
                if head in (b"FHS", b"BHS"):
                    self._envelope(line)
            elif current:
                current.append(line)
            else:
                stray.append(line)
        if stray:
            number += 1
            yield self._reject(number, "text that is not part of an HL7 message (no MSH segment before it)", stray)
        if current:
            number += 1
            yield self._message(number, current)

    def _envelope(self, line: bytes) -> None:
        fields = line.split(line[3:4]) if len(line) > 3 else []
        control = fields[10].decode("latin-1").strip() if len(fields) > 10 else ""
        if line[:3] == b"FHS":
            self.fhs_control_id = control or self.fhs_control_id
        else:
            self.bhs_control_id = control or self.bhs_control_id

    def _reject(self, number: int, reason: str, segments: list[bytes]) -> Hl7Reject:
        self.rejected += 1
        return Hl7Reject(number, reason, b"\r".join(segments))

    def _message(self, number: int, segments: list[bytes]) -> Hl7Item | Hl7Reject:
        result = parse_message(segments, number)
        if isinstance(result, Hl7Reject):
            self.rejected += 1
            if self.first_control_id is None:
                self.first_control_id = _raw_control_id(segments[0])
            return result
        self.messages += 1
        if self.first is None:
            self.first = result.header
        if self.first_control_id is None:
            self.first_control_id = result.header.control_id
        return result


def _segments(chunks: Iterable[bytes]) -> Iterator[bytes]:
    """Non-blank segments, whatever separates them (CR, LF, CRLF, MLLP frame bytes, NUL between)."""
    rest = b""
    first = True
    for chunk in chunks:
        if first and chunk:
            chunk = chunk.removeprefix(codecs.BOM_UTF8)
            first = False
        parts = _ENDS.split(rest + chunk) if rest else _ENDS.split(chunk)
        rest = parts.pop()
        for part in parts:
            part = part.strip(b"\x00")
            if part.strip():
                yield part
    rest = rest.strip(b"\x00")
    if rest.strip():
        yield rest


def _raw_control_id(msh: bytes) -> str:
    fields = msh.split(msh[3:4]) if len(msh) > 3 else []
    return fields[9].decode("latin-1").strip() if len(fields) > 9 else ""


def parse_message(segments: list[bytes], number: int = 1) -> Hl7Item | Hl7Reject:
    """One message's segments (the first is MSH) -> the item, or a reject with a plain reason."""
    raw = b"\r".join(segments)

    def reject(reason: str) -> Hl7Reject:
        return Hl7Reject(number, reason, raw)

    msh = segments[0]
    fs_byte = msh[3:4]
    if len(msh) < 5 or fs_byte.isalnum() or fs_byte in (b" ", b"\\"):
        return reject("the MSH segment does not start with a field separator and encoding characters")
    end = msh.find(fs_byte, 4)
    encoding_bytes = msh[4:end] if end > 0 else msh[4:]
    if not 2 <= len(encoding_bytes) <= 5 or len(set(encoding_bytes)) != len(encoding_bytes) or \
            any(chr(b).isalnum() or b < 0x21 or b > 0x7e for b in encoding_bytes):
        return reject("MSH-2 (the encoding characters) is not valid")
    raw_fields = msh.split(fs_byte)
    charset = raw_fields[17].decode("latin-1") if len(raw_fields) > 17 else ""
    codec = codec_for(charset.split(chr(encoding_bytes[1]) if len(encoding_bytes) > 1 else "~")[0])
    if codec is None:
        return reject(f"MSH-18 names a character set relay cannot read ({charset.strip()[:40]})")
    try:
        text = raw.decode(codec)
    except (UnicodeDecodeError, LookupError):
        try:
            text = raw.decode(FALLBACK)
        except UnicodeDecodeError:
            return reject(f"the text cannot be decoded as {codec} or Windows-1252")
    fs = fs_byte.decode("ascii")
    encoding = encoding_bytes.decode("ascii")
    lines = text.split("\r")
    for i, line in enumerate(lines, start=1):
        if not _SEGMENT_ID.match(line[:3]) or (len(line) > 3 and line[3] != fs):
            return reject(f"segment {i} of the message does not start with a segment name "
                          f"(three capital letters or digits followed by {fs})")
    fields = lines[0].split(fs)
    message_type = fields[8] if len(fields) > 8 else ""
    if not message_type.strip():
        return reject("MSH-9 (the message type) is empty")
    comp = encoding[0]
    header = Header(
        field_sep=fs, encoding=encoding,
        sending_application=fields[2] if len(fields) > 2 else "",
        sending_facility=fields[3] if len(fields) > 3 else "",
        trigger=(message_type.split(comp) + [""])[1],
        control_id=(fields[9] if len(fields) > 9 else "").strip(),
        version=fields[11] if len(fields) > 11 else "",
    )
    canonical = canonical_form(lines, fs, encoding)
    item = NewItem(
        content_hash=hashlib.sha256(canonical.encode("utf-8")).hexdigest(),
        payload=text,
        tracking_id=header.control_id or None,
        line=number,
        kind=KIND,
    )
    return Hl7Item(item, header)


def canonical_form(lines: list[str], fs: str, encoding: str) -> str:
    """Segments joined by CR; trailing empty fields, repetitions, components and subcomponents
    trimmed; MSH-7 and MSH-10 emptied."""
    comp = encoding[0]
    rep = encoding[1] if len(encoding) > 1 else "~"
    sub = encoding[3] if len(encoding) > 3 else "&"
    ends = (comp, rep, sub, fs)
    # Where a part ends empty: a separator right before a higher one (or the segment's end).
    marks = (sub + comp, sub + rep, comp + rep, comp + fs, rep + fs, sub + fs)
    out = []
    for line in lines:
        is_msh = line[:3] == "MSH"
        if not is_msh and line[-1:] not in ends and not any(mark in line for mark in marks):
            out.append(line)  # most segments: nothing to trim, checked without splitting
            continue
        fields = line.split(fs)
        start = 2 if is_msh else 1  # MSH-2 holds the encoding characters themselves
        if is_msh:
            for index in (6, 9):  # MSH-7 (time) and MSH-10 (control id): a resend changes them
                if len(fields) > index:
                    fields[index] = ""
        for i in range(start, len(fields)):
            value = fields[i]
            if value and (value[-1] in ends or comp + rep in value or sub in value):
                fields[i] = _trim_field(value, rep, comp, sub)
        while len(fields) > 1 and fields[-1] == "":
            fields.pop()
        out.append(fs.join(fields))
    return "\r".join(out)


def _trim_field(value: str, rep: str, comp: str, sub: str) -> str:
    reps = []
    for repetition in value.split(rep):
        comps = []
        for component in repetition.split(comp):
            subs = component.split(sub)
            while len(subs) > 1 and subs[-1] == "":
                subs.pop()
            comps.append(sub.join(subs))
        while len(comps) > 1 and comps[-1] == "":
            comps.pop()
        reps.append(comp.join(comps))
    while len(reps) > 1 and reps[-1] == "":
        reps.pop()
    return rep.join(reps)


def hl7_body_items(data: bytes, max_items: int = 10_000) -> list[NewItem]:
    """The messages of a request body, all or nothing: raises BodyRejected naming what is wrong."""
    from relay.formats.json_reader import BodyRejected

    _, records = read_hl7_bytes(data)
    rejects = [r for r in records if isinstance(r, Hl7Reject)]
    if rejects:
        shown = "; ".join(f"message {r.number}: {r.reason}" for r in rejects[:10])
        raise BodyRejected(f"{len(rejects):,} message(s) could not be used, so nothing was stored: {shown}")
    if not records:
        raise BodyRejected("the body holds no HL7 message (it should start with MSH, FHS or BHS)")
    if len(records) > max_items:
        raise BodyRejected(f"the body holds more than {max_items:,} messages, more than one request may carry; "
                           "send them in smaller requests")
    return [r.item for r in records if isinstance(r, Hl7Item)]


def read_hl7_bytes(data: bytes) -> tuple[Hl7Reader, list[Hl7Item | Hl7Reject]]:
    """A whole body or frame at once (the listeners): the reader (for its envelope) and what it read."""
    reader = Hl7Reader([data])
    return reader, list(reader)
