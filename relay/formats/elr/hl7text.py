"""HL7 v2 text: escaping, field and component joins, length checks, dates with time zones.

Everything here is plain string work, fast enough to run on every row at ingest. A value that cannot
go into a field (too long, an impossible date) raises ``NotTranslatable`` with a plain sentence that
names the CSV column; the caller turns it into a rejected row.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta, timezone, tzinfo

FIELD_SEP = "|"
ENCODING_CHARACTERS = "^~\\&"


class NotTranslatable(ValueError):
    """A row that cannot become a valid message; ``reason`` is for lab staff."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _escape_table() -> dict[int, str]:
    table = {ord("\\"): "\\E\\", ord("|"): "\\F\\", ord("^"): "\\S\\", ord("&"): "\\T\\", ord("~"): "\\R\\"}
    for code in (*range(0x20), 0x7F):
        table.setdefault(code, f"\\X{code:02X}\\")
    return table


_ESCAPES = _escape_table()
SPECIAL = re.compile(r"[\\|^&~\x00-\x1f\x7f]")


def escape(value: str) -> str:
    """A value as HL7 text: the separators and control characters (CR, LF, ...) as escape sequences."""
    if SPECIAL.search(value) is None:
        return value
    return value.translate(_ESCAPES)


ST_LIMIT = 199  # a string component (ST) as written, escapes included
IS_LIMIT = 20  # a coded value for a user table (IS), such as a namespace id (HD-1)


def checked(value: str, limit: int, column: str) -> str:
    """``value`` escaped, after checking it fits ``limit`` characters (and, written with its escape
    sequences, the 199 of a string component)."""
    if len(value) > limit:
        raise NotTranslatable(f"{column} is {len(value)} characters long; HL7 allows at most {limit} there")
    if SPECIAL.search(value) is None:
        return value
    escaped = value.translate(_ESCAPES)
    if len(escaped) > ST_LIMIT:
        raise NotTranslatable(f"{column} holds so many special characters (| ^ ~ \\ & or control characters) "
                              f"that, written for HL7, it is {len(escaped)} characters long; at most {ST_LIMIT} fit")
    return escaped


def shortened(value: str, limit: int) -> str:
    """``value`` escaped and cut to ``limit`` characters, never inside an escape sequence (for labels
    such as a namespace id, where the identifier that matters travels beside it)."""
    out: list[str] = []
    used = 0
    for char in value:
        piece = escape(char)
        if used + len(piece) > limit:
            break
        out.append(piece)
        used += len(piece)
    return "".join(out).rstrip()


# Joins drop trailing empty parts (HL7 leaves them out). Stripping the separator is enough: every
# value is escaped, so a part never ends in a bare separator of its own.
def components(*parts: str) -> str:
    return "^".join(parts).rstrip("^")


def subcomponents(*parts: str) -> str:
    return "&".join(parts).rstrip("&")


def segment(name: str, fields: list[str]) -> str:
    return (name + "|" + "|".join(fields)).rstrip("|")


# -- dates ---------------------------------------------------------------------------------------

_COMPACT = re.compile(r"(\d{4})(\d{2})(\d{2})(?:(\d{2})(\d{2})(\d{2})?(?:\.\d{1,4})?)?(?:([+-])(\d{2})(\d{2}))?")
_US = re.compile(r"(\d{1,2})/(\d{1,2})/(\d{4})(?:[ T](\d{1,2}):(\d{2})(?::(\d{2}))?(?:\s*([AaPp])[Mm])?)?")
_ISO = re.compile(r"(\d{4})-(\d{2})-(\d{2})(?:[ T](\d{2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?")

Moment = date | datetime  # a date alone, or an aware date-time


def parse_moment(text: str, column: str, zone: tzinfo | None) -> Moment:
    """A date or date-time as sites write them (``20260220``, ``202602201809-0500``,
    ``2/20/2026 18:09``, ISO 8601). A date-time without an offset is taken in ``zone`` (the
    machine's local zone when None). Impossible dates raise NotTranslatable."""
    parts: tuple[str | None, ...]
    offset: timezone | None = None
    try:
        if m := _COMPACT.fullmatch(text):
            y, mo, d, hh, mi, ss, sign, oh, om = m.groups()
            if sign:
                assert oh is not None and om is not None
                minutes = int(oh) * 60 + int(om)
                offset = timezone(timedelta(minutes=-minutes if sign == "-" else minutes))
            parts = (y, mo, d, hh, mi, ss)
        elif m := _US.fullmatch(text):
            mo, d, y, hh, mi, ss, half = m.groups()
            if half and hh is not None:
                hour = int(hh) % 12 + (12 if half in "Pp" else 0)
                if not 1 <= int(hh) <= 12:
                    raise ValueError("hour")
                hh = str(hour)
            parts = (y, mo, d, hh, mi, ss)
        elif m := _ISO.fullmatch(text):
            y, mo, d, hh, mi, ss, zone_text = m.groups()
            if zone_text:
                if zone_text == "Z":
                    offset = timezone.utc
                else:
                    digits = zone_text[1:].replace(":", "")
                    minutes = int(digits[:2]) * 60 + int(digits[2:])
                    offset = timezone(timedelta(minutes=-minutes if zone_text[0] == "-" else minutes))
            parts = (y, mo, d, hh, mi, ss)
        else:
            raise NotTranslatable(f"{column} {text!r} is not a date relay can read (use yyyyMMdd, "
                                  "yyyyMMddHHmm±zzzz or M/d/yyyy HH:mm)")
        y, mo, d, hh, mi, ss = parts
        assert y is not None and mo is not None and d is not None
        if hh is None:
            return date(int(y), int(mo), int(d))
        moment = datetime(int(y), int(mo), int(d), int(hh), int(mi or 0), int(ss or 0))
    except ValueError as exc:
        if isinstance(exc, NotTranslatable):
            raise
        raise NotTranslatable(f"{column} {text!r} is not a possible date") from exc
    if offset is not None:
        return moment.replace(tzinfo=offset)
    if zone is not None:
        return moment.replace(tzinfo=zone)
    return moment.astimezone()  # the machine's zone, with the offset in force on that date


def dtm(moment: Moment) -> str:
    """HL7 DTM: ``YYYYMMDD`` for a date, ``YYYYMMDDHHMMSS±ZZZZ`` for a date-time."""
    day = f"{moment.year:04d}{moment.month:02d}{moment.day:02d}"
    if not isinstance(moment, datetime):
        return day
    offset = moment.utcoffset()
    minutes = round(offset.total_seconds() / 60) if offset is not None else 0
    sign = "-" if minutes < 0 else "+"
    hours, mins = divmod(abs(minutes), 60)
    return f"{day}{moment.hour:02d}{moment.minute:02d}{moment.second:02d}{sign}{hours:02d}{mins:02d}"


def as_datetime(moment: Moment, zone: tzinfo | None) -> datetime:
    """For comparing: a date alone is its first instant in ``zone``."""
    if isinstance(moment, datetime):
        return moment
    start = datetime(moment.year, moment.month, moment.day)
    return start.replace(tzinfo=zone) if zone is not None else start.astimezone()
