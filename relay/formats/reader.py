"""The reader seam: bytes in, items or rejects out.

A ``Reader`` turns one input (a request body, a frame, a file's bytes; or a one-element list of
them, taken out as it is read so a large body is not held twice) into ``NewItem``s (the
neutral value in ``relay.items``) and ``Reject``s, one per unusable record, in input order. A
problem with the input as a whole (not text, no header, malformed JSON) raises ``BodyRejected``
or ``FileRejected`` with plain words. A reader knows nothing of the store and writes no files:
sources (relay/ingest/) decide what to do with both (store the items, write reports, answer).

Implementations: CSV (``relay.formats.csv_reader``), JSON and JSON lines
(``relay.formats.json_reader``), HL7 v2 (``relay.formats.hl7``). Large files are read by the same
code in its streaming form (``open_csv`` over a file handle, ``relay.formats.hl7.Hl7Reader`` over chunks).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol

from relay.formats.csv_reader import Row, parse_csv_bytes
from relay.formats.file_errors import FileChanged, FileRejected
from relay.formats.hl7 import Hl7Item, read_hl7_bytes
from relay.formats.json_reader import MAX_ITEMS, Body, BodyRejected, read_json, read_ndjson
from relay.items import NewItem

__all__ = ["BODY_KINDS", "CsvReader", "Hl7MessagesReader", "JsonLinesReader", "JsonReader", "Reader", "Reject",
           "read_items", "reader_for"]


@dataclass(frozen=True, slots=True)
class Reject:
    """A record that cannot be used: ``where`` it is ("line 4", "message 2") and why, in plain words."""

    where: str
    reason: str

    def __str__(self) -> str:
        return self.reason if self.reason.startswith(self.where) else f"{self.where}: {self.reason}"


class Reader(Protocol):
    """One input's records as items or rejects (see the module's docstring)."""

    unit: str  # what one record is called in messages: "row", "result", "message"

    def read(self, data: Body) -> Iterator[NewItem | Reject]: ...

    def refusal(self, rejects: Sequence[Reject]) -> str:
        """Why a whole body is refused when some of its records are rejects."""
        ...


class CsvReader:
    unit = "row"

    def __init__(self, tracking_column: str | None = None, source_name: str = "request body") -> None:
        self.tracking_column = tracking_column
        self.source_name = source_name

    def read(self, data: Body) -> Iterator[NewItem | Reject]:
        file = parse_csv_bytes(_take(data), self.tracking_column, source_name=self.source_name)
        for row in file:
            if isinstance(row, Row):
                yield NewItem(content_hash=row.content_hash, payload=row.canonical, tracking_id=row.tracking_id,
                              columns=file.canonical_columns, line=row.line)
            else:
                yield Reject(f"line {row.line}", row.reason)

    def refusal(self, rejects: Sequence[Reject]) -> str:
        shown = "; ".join(str(r) for r in rejects[:10]) + ("; ..." if len(rejects) > 10 else "")
        rows = "1 row" if len(rejects) == 1 else f"{len(rejects):,} rows"
        return f"{rows} could not be used, so nothing was stored: {shown}"


class JsonReader:
    """One result object or an array of them; any bad result refuses the whole input (raises)."""

    unit = "result"

    def __init__(self, intake_format: str, tracking_column: str | None = None) -> None:
        self.intake_format = intake_format
        self.tracking_column = tracking_column

    def read(self, data: Body) -> Iterator[NewItem | Reject]:
        yield from read_json(data, intake_format=self.intake_format, tracking_column=self.tracking_column)

    def refusal(self, rejects: Sequence[Reject]) -> str:
        return "; ".join(str(r) for r in rejects[:10])


class JsonLinesReader(JsonReader):
    """One result object per line (blank lines skipped)."""

    def read(self, data: Body) -> Iterator[NewItem | Reject]:
        yield from read_ndjson(data, intake_format=self.intake_format, tracking_column=self.tracking_column)


class Hl7MessagesReader:
    """HL7 v2 messages, batches (FHS/BHS) or MLLP-framed text: one item per message."""

    unit = "message"

    def read(self, data: Body) -> Iterator[NewItem | Reject]:
        _, records = read_hl7_bytes(_take(data))
        if not records:
            raise BodyRejected("the body holds no HL7 message (it should start with MSH, FHS or BHS)")
        for record in records:
            if isinstance(record, Hl7Item):
                yield record.item
            else:
                yield Reject(f"message {record.number}", record.reason)

    def refusal(self, rejects: Sequence[Reject]) -> str:
        shown = "; ".join(str(r) for r in rejects[:10])
        return f"{len(rejects):,} message(s) could not be used, so nothing was stored: {shown}"


BODY_KINDS = ("csv", "json", "ndjson", "hl7")


def _take(data: Body) -> bytes:
    """The bytes of ``data``; from a one-element list they are taken out, so the caller's list no
    longer holds a large body while it is read (the listener hands bodies over so)."""
    raw = data.pop() if isinstance(data, list) else data
    return raw if isinstance(raw, bytes) else bytes(raw)


def reader_for(kind: str, *, intake_format: str, tracking_column: str | None = None) -> Reader:
    """The reader of a body kind (one of ``BODY_KINDS``)."""
    if kind == "json":
        return JsonReader(intake_format, tracking_column)
    if kind == "ndjson":
        return JsonLinesReader(intake_format, tracking_column)
    if kind == "hl7":
        return Hl7MessagesReader()
    if kind == "csv":
        return CsvReader(tracking_column)
    raise ValueError(f"unknown body kind {kind!r}; one of {', '.join(BODY_KINDS)}")


def read_items(reader: Reader, data: Body, max_items: int = MAX_ITEMS) -> list[NewItem]:
    """All of a body's items, or ``BodyRejected`` naming what is wrong (nothing is stored then)."""
    items: list[NewItem] = []
    rejects: list[Reject] = []
    try:
        for record in reader.read(data):
            if isinstance(record, Reject):
                rejects.append(record)
                continue
            if len(items) == max_items:
                raise BodyRejected(f"the body holds more than {max_items:,} {reader.unit}s, more than one request "
                                   "may carry; send them in smaller requests")
            items.append(record)
    except (FileRejected, FileChanged) as exc:
        raise BodyRejected(exc.reason) from exc
    if rejects:
        raise BodyRejected(reader.refusal(rejects))
    return items
