"""JSON bodies to items: one object, an array of objects, or JSON lines (NDJSON).

Every result is checked against ``schemas/result.schema.json``. A flat object whose values are all
text becomes a tabular item, stored and hashed exactly like the CSV row of the same strings (trimmed
values in canonical column order); any other object becomes a JSON document item. When the intake
takes CSV, nested objects and lists are refused, and plain numbers, true/false and null become text
so that the item is a row.

Problems raise ``BodyRejected`` with plain words naming the result ("item 3: ...", or "line 4: ..."
for JSON lines). Messages name fields, never their values: bodies carry patient data.
"""

from __future__ import annotations

import json
import math
import re
import threading
from collections.abc import Iterator
from typing import Any

from relay.errors import PermanentError
from relay.formats.csv_reader import DEFAULT_TRACKING_COLUMNS
from relay.formats.json_stream import NotPlain, elements, first_byte
from relay.formats.result_schema import by_names, field, kind_of, schema_problem, short
from relay.hashing import RowCanonicalizer, canonical_json, json_hash
from relay.items import NewItem

__all__ = [
    "INTAKE_FORMATS",
    "MAX_DEPTH",
    "MAX_ITEMS",
    "BodyRejected",
    "read_json",
    "read_ndjson",
]

INTAKE_FORMATS = ("csv", "json", "ndjson", "hl7")  # hl7: records must be flat, to become ELR messages
MAX_ITEMS = 10_000  # results in one body
MAX_DEPTH = 32  # levels of nested objects/lists below a result
_SURROGATE = re.compile("[\ud800-\udfff]")
_BOM = b"\xef\xbb\xbf"


class BodyRejected(PermanentError):
    """The body cannot be used; ``reason`` (also ``str(exc)``) says why in plain words."""

    reason: str

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


# -- parsing -------------------------------------------------------------------------------------


class _Flagged(dict[str, Any]):
    """An object in which the parser met a duplicate field name (reported with its item)."""

    duplicate: str


class _NonFinite:
    """NaN, Infinity, or a number too large for a float: JSON has no place for these."""

    def __repr__(self) -> str:
        return "<non-finite>"


_NON_FINITE = _NonFinite()


_seen = threading.local()  # .odd: the parse met something the full walk must look at


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) == len(pairs):
        return obj
    flagged = _Flagged(pairs)
    names: set[str] = set()
    for key, _ in pairs:
        if key in names:
            flagged.duplicate = key
            break
        names.add(key)
    _seen.odd = True
    return flagged


def _float(text: str) -> float | _NonFinite:
    value = float(text)
    if math.isfinite(value):
        return value
    _seen.odd = True
    return _NON_FINITE


def _constant(_: str) -> _NonFinite:
    _seen.odd = True
    return _NON_FINITE


_DECODER = json.JSONDecoder(object_pairs_hook=_pairs, parse_float=_float, parse_constant=_constant)


_JSON_SPACE = " \t\r\n"  # the only whitespace JSON knows


def _decode_text(data: bytes | bytearray, kind: str) -> str:
    if not first_byte(data):  # (no stripped copy of a large body)
        raise BodyRejected("the body is empty")
    if data.startswith(_BOM):
        raise BodyRejected(f"the body starts with a byte order mark (BOM); send {kind} as UTF-8 without one")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        column = exc.start - data.rfind(b"\n", 0, exc.start)
        raise BodyRejected(f"the body is not UTF-8 text (line {line}, byte {column} of the line)") from exc


_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
_SURROGATE_ESCAPE_BYTES = re.compile(rb"\\u[dD][89a-fA-F]")


def _loads(text: str, where: str) -> tuple[Any, bool]:
    """The value, and whether it may hold duplicate names, NaN or lone surrogates (needs the walk)."""
    _seen.odd = _SURROGATE_ESCAPE.search(text) is not None
    try:
        return _DECODER.decode(text), _seen.odd
    except RecursionError as exc:
        raise BodyRejected(f"{where} is nested too deeply") from exc
    except json.JSONDecodeError as exc:
        raise BodyRejected(_decode_error(exc, where)) from exc
    except ValueError as exc:  # an integer with thousands of digits
        raise BodyRejected(f"{where} holds a number too long to read") from exc


def _decode_error(exc: json.JSONDecodeError, where: str) -> str:
    problem = exc.msg[0].lower() + exc.msg[1:]
    if where == "the body":
        hint = ""
        if exc.msg == "Extra data":
            hint = "; for one result per line, send Content-Type application/x-ndjson"
        return f"the body is not valid JSON: {problem} at line {exc.lineno}, column {exc.colno}{hint}"
    return f"{where}: not valid JSON: {problem} at column {exc.colno}"


# -- checking ------------------------------------------------------------------------------------

_NESTED = "{} is {}; the intake takes CSV, so values must be plain text or numbers"


def _walk(value: Any, path: list[Any], csv_intake: bool) -> str | None:
    """Problems the schema cannot see: duplicate names, NaN, lone surrogates, depth, nesting for CSV.

    In reading order; recursion stops at MAX_DEPTH, so it stays shallow."""
    if path and len(path) > MAX_DEPTH:
        return f"{field(path[:1])} is nested more than {MAX_DEPTH} levels deep"
    if isinstance(value, dict):
        if isinstance(value, _Flagged):
            return f"the field name '{short(value.duplicate)}' appears twice" + (f" in {field(path)}" if path else "")
        if path and csv_intake:
            return _NESTED.format(field(path), "an object")
        children: Any = value.items()
    else:
        if csv_intake:
            return _NESTED.format(field(path), "a list")
        children = enumerate(value)
    for key, child in children:
        if type(key) is str and _SURROGATE.search(key):
            return "a field name" + (f" in {field(path)}" if path else "") + " holds an invalid \\u escape"
        kind = type(child)
        if kind is str:
            if _SURROGATE.search(child):
                return f"{field([*path, key])} holds an invalid \\u escape (half of a surrogate pair)"
        elif child is _NON_FINITE:
            return f"{field([*path, key])} is NaN, Infinity or too large a number; JSON results must use finite numbers"
        elif isinstance(child, (dict, list)):
            problem = _walk(child, [*path, key], csv_intake)
            if problem is not None:
                return problem
    return None


def _text_only(obj: dict[str, Any]) -> bool:
    return bool(obj) and set(map(type, obj.values())) == {str}


def _check(obj: Any, label: str, csv_intake: bool, odd: bool) -> dict[str, Any]:
    if not isinstance(obj, dict):
        raise BodyRejected(f"{label} is {kind_of(obj)}, not a JSON object")
    text_only = _text_only(obj)
    problem = None
    if odd or not text_only:
        problem = _walk(obj, [], csv_intake)
    problem = problem or _same_names(tuple(obj))
    if problem is not None:
        raise BodyRejected(f"{label}: {problem}")
    problem = schema_problem(obj, label, csv_intake, text_only)
    if problem is not None:
        raise BodyRejected(problem)
    return obj


@by_names
def _same_names(keys: tuple[str, ...]) -> str | None:
    seen: dict[str, str] = {}
    for key in keys:
        trimmed = key.strip()
        if trimmed in seen:
            return (f"the field names '{short(seen[trimmed])}' and '{short(key)}' are the same once "
                    "surrounding spaces are trimmed")
        seen[trimmed] = key
    return None


# -- items ---------------------------------------------------------------------------------------


def _as_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if value is None:
        return ""
    return json.dumps(value)  # true/false and numbers as JSON writes them


def _tracking(obj: dict[str, Any], configured: str | None) -> str | None:
    wanted = (configured.strip(),) if configured and configured.strip() else DEFAULT_TRACKING_COLUMNS
    found: str | None = next((name for name in wanted if name in obj), None)
    if found is None:
        folded = {key.strip().casefold(): key for key in reversed(list(obj))}
        found = next((folded[n.casefold()] for n in wanted if n.casefold() in folded), None)
    if found is None:
        return None
    value = obj[found]
    if isinstance(value, (dict, list)) or value is None:
        return None
    return _as_text(value).strip() or None


@by_names
def _canonicalizer(names: tuple[str, ...]) -> RowCanonicalizer:
    return RowCanonicalizer(names)


def _item(obj: dict[str, Any], csv_intake: bool, line: int | None, tracking_column: str | None) -> NewItem:
    text_only = _text_only(obj)
    if csv_intake and not text_only:
        obj = {key: _as_text(value) for key, value in obj.items()}
        text_only = True
    tracking_id = _tracking(obj, tracking_column)
    if text_only:
        # A row, stored as CSV rows are: trimmed values in canonical (sorted) column order.
        canon = _canonicalizer(tuple(obj))
        payload, content_hash = canon(tuple(obj.values()))
        return NewItem(content_hash=content_hash, payload=payload, tracking_id=tracking_id,
                       columns=canon.columns, line=line)
    return NewItem(content_hash=json_hash(obj), payload=canonical_json(obj), tracking_id=tracking_id,
                   columns=None, line=line)


def _intake(intake_format: str) -> bool:
    if intake_format not in INTAKE_FORMATS:
        raise ValueError(f"unknown intake format {intake_format!r}; one of {', '.join(INTAKE_FORMATS)}")
    return intake_format in ("csv", "hl7")


def _too_many(count: int) -> BodyRejected:
    return BodyRejected(f"the body holds {count:,} results, more than the {MAX_ITEMS:,} one request may carry; "
                        "send them in smaller requests")


Body = bytes | bytearray | list[bytes | bytearray]


def _take(data: Body) -> bytes | bytearray:
    """The body's bytes. Given as a one-element list, they are taken out of it: once read nothing
    holds them, so a large body is not in memory as bytes, text and objects at once."""
    return data.pop() if isinstance(data, list) else data


def read_json(data: Body, *, intake_format: str, tracking_column: str | None = None) -> list[NewItem]:
    """An ``application/json`` body: one result object, or an array of them. ``data`` may be a
    one-element list the bytes are taken out of (see ``_take``)."""
    csv_intake = _intake(intake_format)
    raw = _take(data)
    if first_byte(raw) == b"[":
        streamed = _array(raw, csv_intake, tracking_column)
        if streamed is not None:
            return streamed
        # Not a plain array that parses, or a result was refused: the whole read says why.
        text = _decode_text(raw, "JSON")
        del raw
        return _whole_array(text, csv_intake, tracking_column)
    text = _decode_text(raw, "JSON")
    del raw
    value, odd = _loads(text, "the body")
    del text
    if isinstance(value, dict):
        return [_item(_check(value, "item 1", csv_intake, odd), csv_intake, None, tracking_column)]
    _check_array(value)
    items: list[NewItem] = []
    for n in range(len(value)):
        obj, value[n] = value[n], None  # each parsed result is let go of once it is an item
        items.append(_item(_check(obj, f"item {n + 1}", csv_intake, odd), csv_intake, None, tracking_column))
    return items


def _array(raw: bytes | bytearray, csv_intake: bool, tracking_column: str | None) -> list[NewItem] | None:
    """A JSON array read one result at a time straight from the bytes (``json_stream``), each made an
    item before the next is parsed: neither the whole text nor all the parsed objects of a large body
    are ever in memory. None when the body must be read whole instead (errors, limits, empty), so its
    error message is exactly that of a whole read."""
    if raw.startswith(_BOM):
        return None
    surrogates = _SURROGATE_ESCAPE_BYTES.search(raw) is not None
    items: list[NewItem] = []
    values = elements(raw, _DECODER)
    try:
        while True:
            _seen.odd = surrogates
            try:
                obj = next(values)
            except StopIteration:
                return items
            if len(items) == MAX_ITEMS:
                return None
            items.append(_item(_check(obj, f"item {len(items) + 1}", csv_intake, _seen.odd), csv_intake, None,
                               tracking_column))
            del obj
    except (NotPlain, BodyRejected):  # the same message a whole read gives (a broken body is said first)
        return None
    finally:
        values.close()


def _check_array(value: object) -> None:
    """A body that is not an array of at most MAX_ITEMS results is refused, saying why."""
    if not isinstance(value, list):
        raise BodyRejected(f"the body is {kind_of(value)}; send a JSON object or an array of objects")
    if not value:
        raise BodyRejected("the body is an empty array; it holds no results")
    if len(value) > MAX_ITEMS:
        raise _too_many(len(value))


def _whole_array(text: str, csv_intake: bool, tracking_column: str | None) -> list[NewItem]:
    """The body read whole, for the cases ``_array`` leaves to it (errors, limits, empty)."""
    value, odd = _loads(text, "the body")
    _check_array(value)
    return [_item(_check(obj, f"item {n}", csv_intake, odd), csv_intake, None, tracking_column)
            for n, obj in enumerate(value, start=1)]


def _lines(text: str) -> Iterator[str]:
    """``text.split("\\n")`` one line at a time (no list of every line beside the text)."""
    start = 0
    while True:
        end = text.find("\n", start)
        if end < 0:
            yield text[start:]
            return
        yield text[start:end]
        start = end + 1


def read_ndjson(data: Body, *, intake_format: str, tracking_column: str | None = None) -> list[NewItem]:
    """An ``application/x-ndjson`` body: one result object per line; blank lines are skipped.
    ``data`` may be a one-element list the bytes are taken out of (see ``_take``)."""
    csv_intake = _intake(intake_format)
    text = _decode_text(_take(data), "JSON lines")
    items: list[NewItem] = []
    for number, line in enumerate(_lines(text), start=1):
        if not line.strip(_JSON_SPACE):
            continue
        if len(items) == MAX_ITEMS:
            raise _too_many(sum(1 for rest in text.split("\n") if rest.strip(_JSON_SPACE)))
        label = f"line {number}"
        value, odd = _loads(line, label)
        obj = _check(value, label, csv_intake, odd)
        items.append(_item(obj, csv_intake, number, tracking_column))
    return items
