"""The intake wire format (INTERFACE §5): batch bodies, content types, request headers."""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from typing import Any
from urllib.parse import quote

from relay.hashing import UNIT_SEPARATOR, decode_values
from relay.store.models import BatchSpec, Content

CONTENT_TYPES = {"csv": "text/csv", "ndjson": "application/x-ndjson", "json": "application/json"}
MAX_ROWS = 10_000
MAX_BODY_BYTES = 50_000_000


def item_object(item: Content) -> Any:
    """The item as a JSON value: a row becomes an object of column -> value."""
    if item.payload is None:
        raise ValueError(f"item {item.id} has no content (removed after the retention period)")
    if item.columns is not None:
        return dict(zip(item.columns, decode_values(item.payload)))
    return json.loads(item.payload)


def item_row(item: Content, columns: tuple[str, ...]) -> list[str]:
    """The item as a CSV row in ``columns`` order (flat JSON items too)."""
    if item.columns is not None and item.columns == columns and item.payload is not None:
        return decode_values(item.payload)
    obj = item_object(item)
    if not isinstance(obj, dict):
        raise ValueError(f"item {item.id} is not a flat record and cannot be a CSV row")
    return ["" if obj.get(c) is None else str(obj.get(c)) for c in columns]


class _Lines(list[str]):
    """A csv.writer target that keeps each written row as its own string."""

    write = list.append


def _csv_writer() -> tuple[Any, _Lines]:
    lines = _Lines()
    return csv.writer(lines, lineterminator="\r\n"), lines  # writerow writes each row in one call


_NEEDS_QUOTES = (",", '"', "\r", "\n")  # what makes csv.writer (QUOTE_MINIMAL, this dialect) quote a field
MANY_QUOTED = 8  # fields to quote in one row beyond which csv.writer forms the line


def _encoded_csv_line(body: str) -> str:
    """The CSV line (without its end) of an encoded row's values (``body``: the encoding without its
    leading separator), exactly as csv.writer writes it, without splitting the row into its values:
    only the fields that need quotes are cut out and quoted. For rows of two or more values
    (csv.writer writes a single empty value as "").

    The next position of each character that needs quotes is kept and looked for again only once a
    quoted field has passed it, so the whole row is scanned at most once a character; a row with
    many fields to quote goes to csv.writer (its C loop is quicker than this one then)."""
    found = [body.find(char) for char in _NEEDS_QUOTES]
    if max(found) < 0:
        return body.replace(UNIT_SEPARATOR, ",")
    parts: list[str] = []
    done = 0  # body[:done] is in parts; done is always the start of a field
    while True:
        pos = min((p for p in found if p >= 0), default=-1)
        if pos < 0:
            break
        if len(parts) >= 2 * MANY_QUOTED:
            writer, lines = _csv_writer()
            writer.writerow(body.split(UNIT_SEPARATOR))
            return lines.pop()[:-2]
        start = body.rfind(UNIT_SEPARATOR, done, pos)
        start = done if start < 0 else start + 1
        end = body.find(UNIT_SEPARATOR, pos)
        if end < 0:
            end = len(body)
        parts.append(body[done:start])
        parts.append('"' + body[start:end].replace('"', '""') + '"')
        done = end
        for i, p in enumerate(found):
            if 0 <= p < end:
                found[i] = body.find(_NEEDS_QUOTES[i], end)
    parts.append(body[done:])
    return "".join(parts).replace(UNIT_SEPARATOR, ",")  # no value holds the separator (encode_values)


def build_csv(items: Sequence[Content], max_bytes: int = MAX_BODY_BYTES) -> BatchSpec:
    columns = items[0].columns
    if columns is None:
        first = item_object(items[0])
        if not isinstance(first, dict):
            raise ValueError("a CSV batch needs flat records")
        columns = tuple(first)
    writer, lines = _csv_writer()
    writer.writerow(columns)
    parts = [lines.pop().encode("utf-8")]
    size = len(parts[0])
    direct = len(columns) > 1
    for item in items[:MAX_ROWS]:
        payload = item.payload
        if direct and payload is not None and payload[:1] == UNIT_SEPARATOR and (
                item.columns is columns or item.columns == columns):
            line = (_encoded_csv_line(payload[1:]) + "\r\n").encode("utf-8")
        else:
            writer.writerow(item_row(item, columns))
            line = lines.pop().encode("utf-8")
        if size + len(line) > max_bytes and len(parts) > 1:
            break
        parts.append(line)
        size += len(line)
    return BatchSpec(CONTENT_TYPES["csv"], b"".join(parts), item_count=len(parts) - 1)


def _json_parts(items: Sequence[Content], max_bytes: int, sep: int) -> list[bytes]:
    parts: list[bytes] = []
    size = 2
    for item in items[:MAX_ROWS]:
        text = json.dumps(item_object(item), ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        if size + len(text) + sep > max_bytes and parts:
            break
        parts.append(text)
        size += len(text) + sep
    return parts


def build_ndjson(items: Sequence[Content], max_bytes: int = MAX_BODY_BYTES) -> BatchSpec:
    parts = _json_parts(items, max_bytes, 1)
    return BatchSpec(CONTENT_TYPES["ndjson"], b"\n".join(parts) + b"\n", item_count=len(parts))


def build_json(items: Sequence[Content], max_bytes: int = MAX_BODY_BYTES) -> BatchSpec:
    parts = _json_parts(items, max_bytes, 1)
    return BatchSpec(CONTENT_TYPES["json"], b"[" + b",".join(parts) + b"]", item_count=len(parts))


BUILDERS: dict[str, Callable[[Sequence[Content]], BatchSpec]] = {
    "csv": build_csv, "ndjson": build_ndjson, "json": build_json,
}

HL7_CONTENT_TYPE = "application/hl7-v2"


def _hl7_message(item: Content) -> bytes:
    text = getattr(item, "wire", None) or item.payload
    if text is None:
        raise ValueError(f"item {item.id} has no content (removed after the retention period)")
    text = text.replace("\r\n", "\r").replace("\n", "\r").strip("\r")
    return (text + "\r").encode("utf-8")


def build_hl7(items: Sequence[Content], max_bytes: int = MAX_BODY_BYTES, *,
              now: datetime | None = None) -> BatchSpec:
    """An HL7 v2 batch (INTERFACE §8): FHS, BHS, the messages, BTS with the message count, FTS;
    segments separated by CR. A message is its ``wire`` form when set (a row translated to HL7),
    else its payload."""
    stamp = (now or datetime.now(timezone.utc)).strftime("%Y%m%d%H%M%S%z")
    head = f"|^~\\&|relay||||{stamp}".encode()
    parts = [b"FHS" + head + b"\r", b"BHS" + head + b"\r"]
    size = len(parts[0]) * 2 + 40
    count = 0
    for item in items[:MAX_ROWS]:
        message = _hl7_message(item)
        if size + len(message) > max_bytes and count:
            break
        parts.append(message)
        size += len(message)
        count += 1
    parts.append(f"BTS|{count}\rFTS|1\r".encode())
    return BatchSpec(HL7_CONTENT_TYPE, b"".join(parts), item_count=count)


class KindBuilder:
    """The builder for a batch's kind: HL7 items always go out as an HL7 batch, the rest with
    ``default`` (intake.format). A batch holds one kind (one group), so its first item decides.

    A ``Rebuilder`` (``relay.store.models``): an HL7 batch's header carries the moment the batch was
    formed (not the clock at building), so ``again`` forms every body anew byte for byte, and the
    outbox keeps a digest of each body instead of the body."""

    def __init__(self, default: Callable[[Sequence[Content]], BatchSpec]) -> None:
        self.default = default

    def __call__(self, items: Sequence[Content]) -> BatchSpec:
        return self.form(items, None)

    def form(self, items: Sequence[Content], formed_at: float | None) -> BatchSpec:
        if (items and getattr(items[0], "kind", "row") == "hl7") or self.default is build_hl7:
            return build_hl7(items, now=_moment(formed_at))
        return self.default(items)

    def again(self, items: Sequence[Content], content_type: str, formed_at: float) -> BatchSpec:
        if content_type == HL7_CONTENT_TYPE:
            return build_hl7(items, NO_LIMIT, now=_moment(formed_at))
        builder = _BY_CONTENT_TYPE.get(content_type)
        if builder is None:
            raise ValueError(f"relay cannot form a body of content type {content_type!r}")
        return builder(items, NO_LIMIT)


NO_LIMIT = 1 << 62  # forming a body again: its members were fitted to the limit when it was formed


def _moment(formed_at: float | None) -> datetime | None:
    return None if formed_at is None else datetime.fromtimestamp(formed_at, timezone.utc)


def by_kind(default: Callable[[Sequence[Content]], BatchSpec]) -> KindBuilder:
    return KindBuilder(default)


BUILDERS.setdefault("hl7", build_hl7)
_BY_CONTENT_TYPE: dict[str, Callable[[Sequence[Content], int], BatchSpec]] = {
    CONTENT_TYPES["csv"]: build_csv, CONTENT_TYPES["ndjson"]: build_ndjson, CONTENT_TYPES["json"]: build_json}


# Printable ASCII stays as it is in the payloadname header, except "%" (so the encoding is reversible).
_HEADER_SAFE = "".join(chr(c) for c in range(0x20, 0x7F) if chr(c) != "%")


def header_name(name: str) -> str:
    """A file name as a header value: characters outside printable ASCII (and "%", and spaces at
    either end, which a header would lose) percent-encoded as UTF-8, RFC 3986 style. Any name the OS
    allows works, also one that is not UTF-8 (Linux bytes kept by surrogateescape)."""
    text = quote(name.encode("utf-8", "surrogateescape"), safe=_HEADER_SAFE)
    core = text.strip(" ")
    if not core:
        return "%20" * len(text)
    lead = len(text) - len(text.lstrip(" "))
    trail = len(text) - len(text.rstrip(" "))
    return "%20" * lead + core + "%20" * trail


def headers(*, client: str, content_type: str, key: str, payloadname: str | None, auth: str,
            token: str | None) -> dict[str, str]:
    h = {"client": client, "Content-Type": content_type, "Idempotency-Key": key}
    if payloadname:
        h["payloadname"] = header_name(payloadname)
    if token and auth in ("bearer", "oauth-jwt"):  # oauth-jwt: the access token from the token endpoint
        h["Authorization"] = f"Bearer {token}"
    elif token and auth == "functions-key":
        h["x-functions-key"] = token
    return h
