"""Text lines to CSV records: counted physical lines, the header, and recovery from broken records.

The stdlib ``csv`` module does the parsing (it is fast and exact). What it lacks is done here: the
physical line each record starts on, a bound on how much one record may hold in memory, and a way
to go on after a malformed record without losing track of where the next one starts.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal, TextIO

from relay.formats.file_errors import FileRejected

FIELD_LIMIT = 1024 * 1024  # characters in one field
ROW_LIMIT = 8 * 1024 * 1024  # characters in one record, across its lines
HEADER_LIMIT = 1024 * 1024  # characters in the header record
MAX_COLUMNS = 2000
DELIMITERS = (",", ";", "\t")
DELIMITER_NAMES = {",": "comma", ";": "semicolon", "\t": "tab"}
_PIECE = 64 * 1024  # how much of a line to read at a time while skipping a broken record
_NEWLINES = ("\n", "\r")
_SEP_DIRECTIVE = re.compile(r"\ufeff?sep=([,;\t])[ ]*[\r\n]*")

Problem = Literal[
    "unterminated_quote", "stray_quote", "field_too_large", "row_too_large", "unreadable"
]


class _RowTooLarge(Exception):
    """Raised inside the csv reader's line iterator to stop a record that outgrows its budget."""


class LineSource:
    """The physical lines of a text stream, as the csv reader's input.

    Counts the lines it hands out and keeps the lines of the current record, which is all that
    recovery needs to re-read a broken record from its start. A record may use ``budget``
    characters; the line that would exceed it is held back in ``overflow``.
    """

    def __init__(self, stream: TextIO) -> None:
        self._readline = stream.readline
        self.lines_done = 0  # physical lines fully handed out
        self.record: list[str] = []
        self.used = 0  # characters in the current record
        self.budget = ROW_LIMIT
        self.overflow: str | None = None
        self._pushed: str | None = None
        self._partial = False  # the last piece read ended inside a line

    def __iter__(self) -> LineSource:
        return self

    def __next__(self) -> str:
        if self._pushed is not None:
            line, self._pushed = self._pushed, None
        else:
            room = self.budget - self.used
            line = self._readline(room + 1)
            if not line:
                raise StopIteration
            if len(line) > room:
                self.overflow = line
                raise _RowTooLarge
        self.used += len(line)
        self.record.append(line)
        self.lines_done += 1
        return line

    def start_record(self, budget: int = ROW_LIMIT) -> int:
        """Begin a new record; returns the line it starts on."""
        self.record.clear()
        self.used = 0
        self.budget = budget
        self.overflow = None
        return self.lines_done + 1

    def peek(self, limit: int) -> str:
        """The next line (at most ``limit`` characters), to be handed out again by ``__next__``."""
        if self._pushed is None:
            self._pushed = self._readline(limit)
        return self._pushed

    def skip_peeked(self) -> None:
        self._pushed = None
        self.lines_done += 1

    def take_overflow(self) -> str:
        piece, self.overflow = self.overflow or "", None
        self._count(piece)
        return piece

    def read_piece(self) -> str:
        """The next piece of a line, for skipping; "" at the end of the text."""
        piece = self._readline(_PIECE)
        if piece:
            self._count(piece)
        elif self._partial:
            self._partial = False
            self.lines_done += 1
        return piece

    def _count(self, piece: str) -> None:
        if piece.endswith(_NEWLINES):
            self.lines_done += 1
            self._partial = False
        else:
            self._partial = True


_START, _IN_FIELD, _IN_QUOTES, _AFTER_QUOTE = range(4)


class _Scanner:
    """A forgiving CSV tokenizer, used only on records the strict reader refused.

    It reads as ``csv`` does with ``strict=False`` (text after a closing quote joins the field),
    notes what was wrong, and keeps at most FIELD_LIMIT characters of any field.
    """

    def __init__(self, delimiter: str) -> None:
        self._delimiter = delimiter
        self._stop = re.compile("[" + re.escape(delimiter) + "\r\n]")
        self.fields: list[str] = []
        self._parts: list[str] = []
        self._kept = 0
        self._length = 0
        self._state = _START
        self.ended = False
        self.stray_quote = False
        self.unterminated = False
        self.too_large: int | None = None  # index of the first field over FIELD_LIMIT

    def feed(self, text: str) -> None:
        i, n = 0, len(text)
        while i < n and not self.ended:
            state = self._state
            if state == _START:
                if text[i] == '"':
                    self._state = _IN_QUOTES
                    i += 1
                else:
                    self._state = _IN_FIELD
            elif state == _IN_FIELD:
                match = self._stop.search(text, i)
                if match is None:
                    self._add(text[i:])
                    return
                j = match.start()
                self._add(text[i:j])
                self._save()
                if text[j] == self._delimiter:
                    self._state = _START
                else:
                    self.ended = True
                i = j + 1
            elif state == _IN_QUOTES:
                j = text.find('"', i)
                if j < 0:
                    self._add(text[i:])
                    return
                self._add(text[i:j])
                self._state = _AFTER_QUOTE
                i = j + 1
            else:
                c = text[i]
                if c == '"':
                    self._add('"')
                    self._state = _IN_QUOTES
                    i += 1
                elif c == self._delimiter:
                    self._save()
                    self._state = _START
                    i += 1
                elif c in _NEWLINES:
                    self._save()
                    self.ended = True
                else:
                    self.stray_quote = True
                    self._state = _IN_FIELD

    def finish(self) -> None:
        """The text ended before the record did."""
        if self.ended:
            return
        if self._state == _IN_QUOTES:
            self.unterminated = True
        if self._state != _START or self.fields or self._parts:
            self._save()
        self.ended = True

    def _add(self, text: str) -> None:
        self._length += len(text)
        if self._length > FIELD_LIMIT and self.too_large is None:
            self.too_large = len(self.fields)
        room = FIELD_LIMIT - self._kept
        if room > 0 and text:
            piece = text[:room]
            self._parts.append(piece)
            self._kept += len(piece)

    def _save(self) -> None:
        self.fields.append("".join(self._parts))
        self._parts = []
        self._kept = 0
        self._length = 0


@dataclass(frozen=True, slots=True)
class BrokenRecord:
    """A record the reader could not take as it is."""

    line: int  # where it starts
    last_line: int  # the last physical line it took
    fields: tuple[str, ...]  # as far as they could be read (each field cut at FIELD_LIMIT)
    problem: Problem
    column: int | None  # for field_too_large: index of the field
    detail: str  # the csv module's own words, for "unreadable"


def _recover(source: LineSource, delimiter: str, start: int, error: Exception) -> BrokenRecord:
    """Re-read the broken record from its first line and skip to where it ends."""
    scanner = _Scanner(delimiter)
    for line in source.record:
        scanner.feed(line)
    row_too_large = source.overflow is not None
    if row_too_large and not scanner.ended:
        scanner.feed(source.take_overflow())
    while not scanner.ended:
        piece = source.read_piece()
        if not piece:
            scanner.finish()
            break
        scanner.feed(piece)
    problem: Problem
    if scanner.unterminated:
        problem = "unterminated_quote"
    elif scanner.stray_quote:
        problem = "stray_quote"
    elif scanner.too_large is not None:
        problem = "field_too_large"
    elif row_too_large:
        problem = "row_too_large"
    else:
        problem = "unreadable"
    source.record.clear()
    return BrokenRecord(
        line=start,
        last_line=max(start, source.lines_done),
        fields=tuple(scanner.fields),
        problem=problem,
        column=scanner.too_large,
        detail=str(error),
    )


def _outside_quotes(line: str) -> str:
    # Every other piece between quote characters lies outside quotes ("" toggles twice).
    return "".join(line.split('"')[::2])


def detect_delimiter(line: str) -> str | None:
    """The delimiter that splits the header line into the most fields, or None."""
    outside = _outside_quotes(line)
    best = max(DELIMITERS, key=outside.count)
    return best if outside.count(best) else None


@dataclass(frozen=True, slots=True)
class RawHeader:
    fields: list[str]
    line: int
    delimiter: str
    blank_lines: int  # blank lines before it


def read_header(source: LineSource) -> tuple[RawHeader, Iterator[list[str]]]:
    """Read the header record; returns it and the csv reader, positioned at the first data row.

    Raises FileRejected when there is no usable header line.
    """
    blank = 0
    directive: str | None = None
    while True:
        line = source.peek(HEADER_LIMIT + 1)
        number = source.lines_done + 1
        if not line:
            raise FileRejected("The file has no header line.")
        if len(line) > HEADER_LIMIT:
            raise FileRejected(f"Line {number} is longer than 1 MB, too long to be a CSV header.")
        if not line.strip():
            source.skip_peeked()
            blank += 1
            continue
        found = _SEP_DIRECTIVE.fullmatch(line)
        if directive is None and found:
            # Excel's "sep=;" first line names the delimiter; the header follows it.
            directive = found.group(1)
            source.skip_peeked()
            continue
        break
    delimiter = directive or detect_delimiter(line)
    if delimiter is None:
        raise FileRejected(f"Line {number} is not a CSV header: it has no comma, semicolon or tab.")
    csv.field_size_limit(FIELD_LIMIT)
    reader = csv.reader(source, delimiter=delimiter, quotechar='"', doublequote=True, strict=True)
    start = source.start_record(HEADER_LIMIT)
    try:
        fields = next(reader)
    except _RowTooLarge:
        raise FileRejected(
            f"The header starting on line {start} is longer than 1 MB, too long to be a CSV header."
        ) from None
    except csv.Error as exc:
        broken = _recover(source, delimiter, start, exc)
        raise FileRejected(
            f"Line {start} is not a CSV header: {_header_problem(broken.problem)}."
        ) from None
    return RawHeader(fields, start, delimiter, blank), reader


def _header_problem(problem: Problem) -> str:
    if problem == "unterminated_quote":
        return "a quote is opened and never closed"
    if problem == "stray_quote":
        return "a quoted name is followed by other text"
    if problem == "field_too_large":
        return "a column name is longer than 1 MB"
    return "it cannot be read as CSV"


def records(
    source: LineSource, reader: Iterator[list[str]], delimiter: str
) -> Iterator[tuple[int, list[str]] | BrokenRecord]:
    """The data records after the header: (start line, fields) or a BrokenRecord."""
    # The limit is process-wide; set it again in case other code changed it since the header.
    csv.field_size_limit(FIELD_LIMIT)
    while True:
        start = source.start_record()
        try:
            fields = next(reader)
        except StopIteration:
            return
        except (csv.Error, _RowTooLarge) as exc:
            yield _recover(source, delimiter, start, exc)
            continue
        yield start, fields
