"""Reading an intake body: decode, parse CSV / NDJSON / JSON, validate items, hash them.

Pure functions of bytes: no I/O, no clock. Problems with the request as a whole raise
``PayloadError`` (a status and a message); problems with single items are collected as
``ItemProblem`` so the answer can name them by 1-based index.
"""

from __future__ import annotations

import csv
import io
from hashlib import sha256
import json
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from server_stub.canonical import RowCanonicalizer, canonical_item, csv_body_is_plain, sha256_text

CONTENT_TYPES = ("text/csv", "application/x-ndjson", "application/json", "application/hl7-v2")
TRACKING_COLUMNS = ("Result_ID", "message_id", "specimen_id", "accession_number")


class PayloadError(Exception):
    """The body cannot be taken at all (report scope)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class RejectRule:
    """``--reject-when FIELD=REGEX``: an item whose FIELD matches REGEX (``re.search``) is invalid."""

    field: str
    pattern: re.Pattern[str]

    @classmethod
    def parse(cls, text: str) -> RejectRule:
        name, sep, regex = text.partition("=")
        if not sep or not name.strip():
            raise ValueError(f"reject rule {text!r}: expected FIELD=REGEX")
        try:
            return cls(field=name.strip(), pattern=re.compile(regex))
        except re.error as exc:
            raise ValueError(f"reject rule {text!r}: bad regular expression: {exc}") from None


@dataclass(frozen=True)
class Rules:
    required: tuple[str, ...] = ()
    reject: tuple[RejectRule, ...] = ()
    max_items: int = 10_000


class Item(NamedTuple):  # a tuple: thousands are made per request
    position: int  # 1-based index in the request
    canonical: str
    content_hash: str
    tracking_id: str | None


class ItemProblem(NamedTuple):
    position: int  # 1-based index in the request
    tracking_id: str | None
    field: str | None
    message: str


@dataclass
class Batch:
    items: list[Item] = field(default_factory=list)
    problems: list[ItemProblem] = field(default_factory=list)

    @property
    def count(self) -> int:
        return len(self.items) + len(self.problems)


def decode(body: bytes) -> str:
    if not body.strip():
        raise PayloadError(400, "The request body is empty: there is nothing to receive")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise PayloadError(400, f"The request body is not valid UTF-8 (bad byte at offset {exc.start})") from None
    return text[1:] if text.startswith("\ufeff") else text


def parse(body: bytes, content_type: str, rules: Rules) -> Batch:
    """Parse and validate a body of the given (already checked) content type."""
    if content_type == "application/hl7-v2":  # decoded per message; FHS/BHS envelopes are not items
        from server_stub.hl7 import parse_hl7

        hl7_batch = parse_hl7(body, rules.max_items)
        if hl7_batch.count == 0:
            raise PayloadError(400, "The report has no items: the HL7 body holds no MSH segment")
        return hl7_batch
    text = decode(body)
    if content_type == "text/csv":
        batch = _parse_csv(body, text, rules)
    elif content_type == "application/x-ndjson":
        batch = _parse_objects(_ndjson_objects(text), rules)
    else:
        batch = _parse_objects(_json_objects(text), rules)
    if batch.count == 0:
        raise PayloadError(400, "The report has no items: a header alone, or nothing but blank lines")
    return batch


def _too_many(rules: Rules) -> PayloadError:
    return PayloadError(413, f"The report has more than {rules.max_items} items; send it in smaller batches")


# --- CSV ---------------------------------------------------------------------------------------


def _plain_rows(text: str) -> Iterator[list[str]]:
    """Rows of a CSV body without any double quote (so no quoted fields): what csv.reader gives,
    only faster."""
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    return (line.split(",") if line else [] for line in text.split("\n"))


def _parse_csv(body: bytes, text: str, rules: Rules) -> Batch:
    reader = csv.reader(io.StringIO(text, newline=""))
    rows: Iterator[list[str]] = reader if b'"' in body else _plain_rows(text)
    batch = Batch()
    try:
        header = next((row for row in rows if row), None)
        if header is None:
            raise PayloadError(400, "The CSV body has no header line")
        names = [name.strip() for name in header]
        seen: set[str] = set()
        for name in names:
            if name in seen:
                raise PayloadError(400, f"The CSV header names the column '{name}' more than once")
            seen.add(name)
        position = {name: i for i, name in enumerate(names)}
        tracking = [position[c] for c in TRACKING_COLUMNS if c in position]
        single_tracking = tracking[0] if len(tracking) == 1 else None
        required = [(c, position.get(c)) for c in rules.required]
        reject = [(r, position.get(r.field)) for r in rules.reject]
        checked = bool(required or reject)
        width = len(names)
        max_items = rules.max_items
        canonical = RowCanonicalizer(names, plain=csv_body_is_plain(body, text)).canonical
        items, problems = batch.items, batch.problems
        index = 0
        # The hot loop of the stub (20k+ rows/s): keep it free of calls that are not needed.
        for row in rows:
            if not row:
                continue  # blank line
            index += 1
            if index > max_items:
                raise _too_many(rules)
            if single_tracking is not None:
                tid = (row[single_tracking].strip() or None) if single_tracking < len(row) else None
            else:
                tid = _tracking_id(row, tracking) if tracking else None
            if len(row) != width:
                problems.append(
                    ItemProblem(index, tid, None, f"Row has {len(row)} values but the header has {width} columns")
                )
                continue
            if checked:
                bad = _csv_row_problem(row, required, reject)
                if bad is not None:
                    problems.append(ItemProblem(index, tid, bad[0], bad[1]))
                    continue
            text_form = canonical(row)
            items.append(Item(index, text_form, sha256(text_form.encode("utf-8")).hexdigest(), tid))
    except csv.Error as exc:
        raise PayloadError(400, f"The CSV body cannot be parsed (line {reader.line_num}): {exc}") from None
    return batch


def _tracking_id(row: Sequence[str], columns: Sequence[int]) -> str | None:
    for i in columns:
        if i < len(row):
            value = row[i].strip()
            if value:
                return value
    return None


def _csv_row_problem(
    row: Sequence[str],
    required: Sequence[tuple[str, int | None]],
    reject: Sequence[tuple[RejectRule, int | None]],
) -> tuple[str, str] | None:
    for name, i in required:
        if i is None or not row[i].strip():
            return name, f"Missing value for required column '{name}'"
    for rule, i in reject:
        if i is not None and rule.pattern.search(row[i].strip()):
            return rule.field, f"Value of '{rule.field}' matches the rejection rule /{rule.pattern.pattern}/"
    return None


# --- JSON and NDJSON ---------------------------------------------------------------------------


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _loads(text: str) -> Any:
    return json.loads(text, parse_constant=_no_constants)


# Each element is (parsed object, or None with an error message).
_Parsed = tuple[Any, str | None]


def _json_objects(text: str) -> Iterator[_Parsed]:
    try:
        value = _loads(text)
    except RecursionError:
        raise PayloadError(400, "The JSON body is nested too deeply") from None
    except ValueError as exc:
        raise PayloadError(400, f"The JSON body cannot be parsed: {exc}") from None
    if isinstance(value, dict):
        yield value, None
    elif isinstance(value, list):
        for element in value:
            yield element, None
    else:
        raise PayloadError(400, "The JSON body must be an array of objects or a single object")


def _ndjson_objects(text: str) -> Iterator[_Parsed]:
    for line in text.split("\n"):
        if not line.strip():
            continue
        try:
            yield _loads(line), None
        except RecursionError:
            yield None, "Line is nested too deeply"
        except ValueError as exc:
            yield None, f"Line is not valid JSON: {exc}"


def _json_tracking_id(obj: dict[str, Any]) -> str | None:
    for name in TRACKING_COLUMNS:
        value = obj.get(name)
        if isinstance(value, str) and value.strip():
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                return None  # an unpaired surrogate cannot be echoed back in the answer
            return value.strip()
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return str(value)
    return None


def _as_text(value: Any) -> str:
    if isinstance(value, str):
        return value.strip()
    try:
        return json.dumps(value, ensure_ascii=False)
    except RecursionError:
        return ""


def _json_problem(obj: dict[str, Any], rules: Rules) -> tuple[str, str] | None:
    for name in rules.required:
        value = obj.get(name)
        if value is None or (isinstance(value, str) and not value.strip()):
            return name, f"Missing value for required field '{name}'"
    for rule in rules.reject:
        value = obj.get(rule.field)
        if value is not None and rule.pattern.search(_as_text(value)):
            return rule.field, f"Value of '{rule.field}' matches the rejection rule /{rule.pattern.pattern}/"
    return None


def _parse_objects(objects: Iterator[_Parsed], rules: Rules) -> Batch:
    batch = Batch()
    for index, (obj, error) in enumerate(objects, start=1):
        if index > rules.max_items:
            raise _too_many(rules)
        if error is not None:
            batch.problems.append(ItemProblem(index, None, None, error))
            continue
        if not isinstance(obj, dict):
            batch.problems.append(ItemProblem(index, None, None, "Item is not a JSON object"))
            continue
        tid = _json_tracking_id(obj)
        bad = _json_problem(obj, rules)
        if bad is not None:
            batch.problems.append(ItemProblem(index, tid, bad[0], bad[1]))
            continue
        try:
            text_form = canonical_item(obj)
            content_hash = sha256_text(text_form)
        except RecursionError:
            batch.problems.append(ItemProblem(index, tid, None, "Item is nested too deeply"))
            continue
        except UnicodeEncodeError:
            batch.problems.append(ItemProblem(index, tid, None, "Item holds an unpaired Unicode surrogate"))
            continue
        except ValueError:  # 1e999 parses as float("inf"), which has no JSON form
            batch.problems.append(ItemProblem(index, tid, None, "Item holds a number out of range"))
            continue
        batch.items.append(Item(index, text_form, content_hash, tid))
    return batch


# --- reading rows back ---------------------------------------------------------------------------


def rows_at(body: bytes, content_type: str, indices: set[int]) -> dict[int, Any]:
    """The items at these 1-based indices of a stored (valid) body, numbered as ``parse`` does: a
    CSV row as {trimmed header name: value as sent}, a JSON item as sent."""
    text = decode(body)
    found: dict[int, Any] = {}
    if content_type == "text/csv":
        source = csv.reader(io.StringIO(text, newline="")) if b'"' in body else _plain_rows(text)
        rows = (row for row in source if row)
        names = [name.strip() for name in next(rows, [])]
        for index, row in enumerate(rows, start=1):
            if index in indices:
                found[index] = dict(zip(names, row))
    else:
        objects = _ndjson_objects(text) if content_type == "application/x-ndjson" else _json_objects(text)
        for index, (obj, _) in enumerate(objects, start=1):
            if index in indices:
                found[index] = obj
    return found
