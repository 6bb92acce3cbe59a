"""HL7 v2 over MLLP, the pure part (INTERFACE §8, §9): the messages of a batch body, their MSH-10,
the frame around a message, and what an ACK says. Bytes in, values out; no sockets."""

from __future__ import annotations

import re
from dataclasses import dataclass

START, END = b"\x0b", b"\x1c\x0d"
BATCH_SEGMENTS = (b"FHS", b"BHS", b"BTS", b"FTS")
_SEGMENT_END = re.compile(rb"\r\n|\r|\n")


class NotHl7(ValueError):
    """The body holds no HL7 v2 message."""


@dataclass(frozen=True)
class Message:
    body: bytes  # segments separated by CR, ending in CR
    control_id: str  # MSH-10

    def frame(self) -> bytes:
        return START + self.body + END


@dataclass(frozen=True)
class Ack:
    code: str  # MSA-1: AA, AE, AR, CA, CE, CR
    control_id: str  # MSA-2
    text: str  # MSA-3 and the ERR segments' words, for a person


def _fields(segment: bytes, separator: bytes) -> list[bytes]:
    return segment.split(separator)


def control_id(msh: bytes) -> str:
    """MSH-10 of an MSH segment (the field separator is the byte after "MSH")."""
    if len(msh) < 4 or not msh.startswith(b"MSH"):
        raise NotHl7("a message does not start with MSH")
    fields = _fields(msh, msh[3:4])
    return fields[9].decode("utf-8", "replace").strip() if len(fields) > 9 else ""


def messages(body: bytes) -> list[Message]:
    """The messages of an HL7 body: one message, or a batch (FHS, BHS, messages, BTS, FTS). Segment
    separators CR, LF or CRLF become CR; a frame around the body is taken off."""
    text = body.strip(b"\x00\r\n \t")
    if text.startswith(START):
        text = text[1:]
    if text.endswith(END):
        text = text[: -len(END)]
    elif text.endswith(b"\x1c"):
        text = text[:-1]
    out: list[list[bytes]] = []
    for segment in _SEGMENT_END.split(text):
        if not segment.strip():
            continue
        if segment[:3] in BATCH_SEGMENTS:
            continue
        if segment.startswith(b"MSH"):
            out.append([segment])
        elif out:
            out[-1].append(segment)
        else:
            raise NotHl7("the body holds segments before its first MSH")
    if not out:
        raise NotHl7("the body holds no HL7 v2 message (no MSH segment)")
    return [Message(b"\r".join(segs) + b"\r", control_id(segs[0])) for segs in out]


def parse_ack(payload: bytes) -> Ack:
    """The acknowledgement in a frame's payload; NotHl7 when there is no MSA segment."""
    segments = [s for s in _SEGMENT_END.split(payload.strip(b"\x0b\x1c\r\n")) if s]
    if not segments or not segments[0].startswith(b"MSH") or len(segments[0]) < 4:
        raise NotHl7("the answer is not an HL7 message")
    separator = segments[0][3:4]
    component = segments[0][4:5] or b"^"
    msa = next((s for s in segments if s.startswith(b"MSA")), None)
    if msa is None:
        raise NotHl7("the answer has no MSA segment")
    fields = _fields(msa, separator)
    code = fields[1].decode("ascii", "replace").strip().upper() if len(fields) > 1 else ""
    ack_id = fields[2].decode("utf-8", "replace").strip() if len(fields) > 2 else ""
    words = [fields[3]] if len(fields) > 3 and fields[3] else []
    for err in (s for s in segments if s.startswith(b"ERR")):
        err_fields = _fields(err, separator)
        # ERR-8 user message, ERR-3 HL7 error code (its text component), ERR-1 (v2.3 style location/text)
        for index in (8, 3, 1):
            if len(err_fields) > index and err_fields[index]:
                parts = err_fields[index].split(component)
                words.append(parts[1] if index == 3 and len(parts) > 1 and parts[1] else err_fields[index])
                break
    text = "; ".join(w.decode("utf-8", "replace").strip() for w in words if w.strip())
    return Ack(code, ack_id, text)
