"""CSV exports to rows: one item per data row, each with its line, tracking id and content hash.

``open_csv`` first streams the raw bytes once (hash, size, encoding, "is it text at all?") and reads
the header; iterating the returned ``CsvFile`` streams the rows in a second pass, yielding ``Row``
for each usable row and ``RowReject`` for each malformed one. Problems with the file as a whole
raise ``FileRejected`` with one plain sentence for lab staff; the "no usable rows" cases are raised
at the end of iteration, so a caller that stored rows in a transaction rolls it back. Memory stays
flat however large the file: no more than one record is held at a time.

Reading stops at the file; nothing is logged here (rows carry patient data).
"""

from __future__ import annotations

import io
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from relay.formats.csv_records import (
    DELIMITER_NAMES,
    FIELD_LIMIT,
    MAX_COLUMNS,
    BrokenRecord,
    LineSource,
    RawHeader,
    read_header,
    records,
)
from relay.formats.csv_report import (
    RejectedRowsWriter,
    error_name,
    error_text,
    rejected_rows_name,
    write_rejected_rows,
)
from relay.formats.file_errors import FileChanged, FileRejected
from relay.formats.text_probe import CHANGED_REASON, Probe, Text, probe
from relay.hashing import RowCanonicalizer

__all__ = [
    "DEFAULT_TRACKING_COLUMNS",
    "FIELD_LIMIT",
    "MAX_COLUMNS",
    "RejectedRowsWriter",
    "CsvFile",
    "FileChanged",
    "FileRejected",
    "Row",
    "RowReject",
    "error_name",
    "error_text",
    "open_csv",
    "open_csv_stream",
    "parse_csv_bytes",
    "rejected_rows_name",
    "write_rejected_rows",
]

DEFAULT_TRACKING_COLUMNS = ("Result_ID", "message_id", "specimen_id", "accession_number")

NO_ROWS_REASON = "The file has a header but no data rows."


@dataclass(slots=True)
class Row:
    """One good data row (not frozen: a frozen dataclass costs a microsecond more per row)."""

    line: int  # physical line (1-based) where the row starts; the header is line 1
    values: tuple[str, ...]  # as read, in header order, len == len(header)
    tracking_id: str | None  # value of the tracking column, trimmed; None if absent or empty
    content_hash: str  # relay.hashing.row_hash(header, values)
    canonical: str  # relay.hashing.encode_values of the trimmed values in CsvFile.canonical_columns order


@dataclass(frozen=True, slots=True)
class RowReject:
    line: int
    reason: str  # plain words, starting "line N: "
    fields: tuple[str, ...]  # the fields as read (possibly ragged; a field over 1 MB is cut there)


Opener = Callable[[], BinaryIO]


class CsvFile:
    """One CSV file, probed and with its header read; iterate once to get its rows."""

    source_name: str
    path: Path | None
    file_hash: str
    size: int
    encoding: str
    delimiter: str
    header: tuple[str, ...]
    tracking_column: str | None
    rows_ok: int
    rows_rejected: int
    blank_rows: int

    def __init__(
        self,
        *,
        opener: Opener,
        source_name: str,
        path: Path | None,
        found: Probe,
        raw_header: RawHeader,
        header: tuple[str, ...],
        tracking_index: int | None,
    ) -> None:
        self._opener = opener
        self._found = found
        self._header_line = raw_header.line
        self._tracking_index = tracking_index
        self._iterated = False
        self._first_reason = ""
        self.source_name = source_name
        self.path = path
        self.file_hash = found.file_hash
        self.size = found.size
        self.encoding = found.encoding
        self.delimiter = raw_header.delimiter
        self.header = header
        self.tracking_column = None if tracking_index is None else header[tracking_index]
        self._canon = RowCanonicalizer(header)
        self.canonical_columns = self._canon.columns  # sorted names: the column set items are stored in
        self.rows_ok = 0
        self.rows_rejected = 0
        self.blank_rows = 0

    def __repr__(self) -> str:
        return (
            f"<CsvFile {self.source_name!r} {self.size} bytes {self.encoding} "
            f"{DELIMITER_NAMES[self.delimiter]}-separated, {len(self.header)} columns>"
        )

    def __iter__(self) -> Iterator[Row | RowReject]:
        if self._iterated:
            raise RuntimeError("a CsvFile can be iterated only once")
        self._iterated = True
        return self._rows()

    def _rows(self) -> Iterator[Row | RowReject]:
        text = Text(self._opener(), self._found)
        try:
            source = LineSource(text.stream)
            try:
                raw, reader = read_header(source)
                same = _check_header(raw) == self.header and raw.delimiter == self.delimiter
            except FileRejected as exc:
                raise FileChanged(CHANGED_REASON) from exc
            if not same or raw.line != self._header_line:
                raise FileChanged(CHANGED_REASON)
            self.blank_rows = raw.blank_lines
            yield from self._data(source, records(source, reader, self.delimiter))
            text.verify()
        except UnicodeDecodeError as exc:
            raise FileChanged(CHANGED_REASON) from exc
        finally:
            text.close()
        if self.rows_ok == 0:
            if self.rows_rejected == 0:
                raise FileRejected(NO_ROWS_REASON)
            raise FileRejected(_none_usable(self.rows_rejected, self._first_reason))

    def _data(
        self, source: LineSource, items: Iterator[tuple[int, list[str]] | BrokenRecord]
    ) -> Iterator[Row | RowReject]:
        header = self.header
        width = len(header)
        tracking = self._tracking_index
        canon = self._canon
        empty = canon.empty
        ctrl_z = canon(["\x1a"])[0] if width == 1 else None
        for item in items:
            if isinstance(item, BrokenRecord):
                yield self._reject(
                    item.line, _broken_reason(item, header, self.delimiter), item.fields
                )
                continue
            line, fields = item
            if len(fields) == width and source.used <= FIELD_LIMIT:
                # The common case, kept short: a complete row of normal size.
                canonical, content_hash = canon(fields)
                if canonical == empty or (width == 1 and canonical == ctrl_z):
                    self.blank_rows += 1
                    continue
                tracking_id = (fields[tracking].strip() or None) if tracking is not None else None
                self.rows_ok += 1
                yield Row(line, tuple(fields), tracking_id, content_hash, canonical)
                continue
            text = "".join(fields).strip()
            if not text or text == "\x1a":  # Ctrl-Z: the end-of-file mark of old DOS tools
                self.blank_rows += 1
                continue
            if len(fields) != width:
                if len(fields) > width and not "".join(fields[width:]).strip():
                    fields = fields[:width]  # Excel's trailing empty columns
                else:
                    yield self._reject(line, _count_reason(line, len(fields), width), fields)
                    continue
            # csv's own field limit is process-wide and could have been raised by other code.
            if source.used > FIELD_LIMIT:
                longest = max(range(width), key=lambda i: len(fields[i]))
                if len(fields[longest]) > FIELD_LIMIT:
                    reason = _too_large_reason(line, longest, header)
                    yield self._reject(line, reason, [f[:FIELD_LIMIT] for f in fields])
                    continue
            values = tuple(fields)
            tracking_id = (values[tracking].strip() or None) if tracking is not None else None
            self.rows_ok += 1
            canonical, content_hash = canon(values)
            yield Row(line, values, tracking_id, content_hash, canonical)

    def _reject(self, line: int, reason: str, fields: Sequence[str]) -> RowReject:
        self.rows_rejected += 1
        if not self._first_reason:
            self._first_reason = reason
        return RowReject(line, reason, tuple(fields))


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _count_reason(line: int, count: int, width: int) -> str:
    return f"line {line}: {_plural(count, 'field')}, header has {width}"


def _column(index: int, header: Sequence[str]) -> str:
    if index < len(header):
        return f'column "{_short(header[index])}"'
    return f"field {index + 1} (past the last column)"


def _too_large_reason(line: int, index: int, header: Sequence[str]) -> str:
    return f"line {line}: the value in {_column(index, header)} is longer than 1 MB"


def _broken_reason(broken: BrokenRecord, header: Sequence[str], delimiter: str) -> str:
    start, last = broken.line, broken.last_line
    span = f" (lines {start} to {last})" if last > start else ""
    if broken.problem == "unterminated_quote":
        if last > start:
            return (
                f"line {start}: a quoted value has no closing quote, so the rest of the file "
                f"(lines {start} to {last}) could not be read"
            )
        return f"line {start}: a quoted value has no closing quote"
    if broken.problem == "stray_quote":
        return (
            f"line {start}: a quoted value is followed by other text before the next "
            f"{DELIMITER_NAMES[delimiter]}{span}; a quote inside a value must be written twice"
        )
    if broken.problem == "field_too_large":
        return _too_large_reason(start, broken.column or 0, header) + span
    if broken.problem == "row_too_large":
        return f"line {start}: the row is longer than 8 MB{span}"
    return f"line {start}: the row cannot be read as CSV{span} ({broken.detail})"


def _none_usable(count: int, first_reason: str) -> str:
    if count == 1:
        return f"The only data row could not be used: {first_reason}."
    return f"None of the {count:,} data rows could be used: {first_reason}."


def _short(name: str, limit: int = 80) -> str:
    return name if len(name) <= limit else name[: limit - 3] + "..."


def _check_header(raw: RawHeader) -> tuple[str, ...]:
    names = [field.strip() for field in raw.fields]
    if names:
        names[0] = names[0].lstrip("\ufeff").strip()
    while names and not names[-1]:
        names.pop()  # Excel's trailing empty columns; a value under one is a ragged row
    if not names:
        raise FileRejected(
            f"Line {raw.line} is not a CSV header: all of its column names are empty."
        )
    if len(names) > MAX_COLUMNS:
        raise FileRejected(
            f"The header has {len(names):,} columns, more than the {MAX_COLUMNS:,} relay can read."
        )
    seen: dict[str, int] = {}
    for i, name in enumerate(names):
        if not name:
            after = f', after "{_short(names[i - 1])}"' if i else ""
            raise FileRejected(f"Column {i + 1} of the header has no name{after}.")
        if name in seen:
            raise FileRejected(
                f'The column name "{_short(name)}" appears twice in the header '
                f"(columns {seen[name] + 1} and {i + 1})."
            )
        seen[name] = i
    return tuple(names)


def _find_column(header: Sequence[str], wanted: Sequence[str]) -> int | None:
    for name in wanted:
        if name in header:
            return header.index(name)
    folded: dict[str, int] = {}
    for i, name in enumerate(header):
        folded.setdefault(name.casefold(), i)
    for name in wanted:
        if name.casefold() in folded:
            return folded[name.casefold()]
    return None


def _tracking_index(header: Sequence[str], configured: str | None) -> int | None:
    if configured is None or not configured.strip():
        return _find_column(header, DEFAULT_TRACKING_COLUMNS)
    wanted = configured.strip()
    found = _find_column(header, (wanted,))
    if found is None:
        raise FileRejected(
            f'The file has no column named "{_short(wanted)}", '
            "which relay is set to use as the tracking column."
        )
    return found


def _open(opener: Opener, source_name: str, path: Path | None, tracking: str | None) -> CsvFile:
    with opener() as stream:
        found = probe(stream)
    text = Text(opener(), found)
    try:
        raw, _ = read_header(LineSource(text.stream))
    except UnicodeDecodeError as exc:
        raise FileChanged(CHANGED_REASON) from exc
    finally:
        text.close()
    header = _check_header(raw)
    return CsvFile(
        opener=opener,
        source_name=source_name,
        path=path,
        found=found,
        raw_header=raw,
        header=header,
        tracking_index=_tracking_index(header, tracking),
    )


def open_csv(path: os.PathLike[str] | str, tracking_column: str | None = None) -> CsvFile:
    """Probe the file and read its header; raises FileRejected, or OSError if it cannot be opened.

    ``tracking_column``: the column holding tracking ids (exact name, else case-insensitive);
    by default the first present of DEFAULT_TRACKING_COLUMNS.
    """
    file_path = Path(path)
    opener = lambda: open(file_path, "rb", buffering=0)  # noqa: E731
    return _open(opener, file_path.name, file_path, tracking_column)


def open_csv_stream(
    opener: Opener, source_name: str, path: Path | None = None, tracking_column: str | None = None
) -> CsvFile:
    """The same as ``open_csv`` over ``opener``, which gives the same bytes from their start each
    time it is called (say, a fresh stream over one open handle: the file read is one file)."""
    return _open(opener, source_name, path, tracking_column)


def parse_csv_bytes(
    data: bytes, tracking_column: str | None = None, source_name: str = "<memory>"
) -> CsvFile:
    """The same as ``open_csv`` for a CSV body already in memory (a text/csv request)."""
    body = bytes(data)
    return _open(lambda: io.BytesIO(body), source_name, None, tracking_column)
