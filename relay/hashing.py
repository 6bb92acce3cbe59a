"""Canonical forms and content hashes (INTERFACE §4).

The same result gives the same hash however it arrives.

- A CSV row is taken as a mapping of trimmed header names to trimmed values: its canonical form is
  the sorted names as compact JSON, a newline, and the values in that order (``encode_values``).
  Column order and whitespace around names and values do not matter.
- A JSON object whose values are all strings is a row too, so it hashes like the same CSV row.
- Any other JSON value: keys sorted, no insignificant whitespace, UTF-8 (RFC 8785 style).

The row form is computed once per header (``RowCanonicalizer``) so a file's rows cost one JSON
encoding and one SHA-256 each; the trimmed values in canonical order are also what the outbox stores.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from operator import itemgetter
from typing import Any

_compact = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), check_circular=False).encode


def _check_numbers(value: Any) -> None:
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError("NaN and Infinity have no canonical JSON form")
    if isinstance(value, dict):
        for v in value.values():
            _check_numbers(v)
    elif isinstance(value, list):
        for v in value:
            _check_numbers(v)


def canonical_json(value: Any) -> str:
    """Sorted keys, no insignificant whitespace, UTF-8 characters kept as they are."""
    _check_numbers(value)
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


UNIT_SEPARATOR = "\x1f"


def encode_values(values: Sequence[str]) -> str:
    """A row's values as one string, cheap to make and to read back (``decode_values``).

    Values are joined by the ASCII unit separator behind a leading one; if any value itself holds
    that character, the values are written as a JSON array instead (which starts with ``[``), so the
    encoding stays unambiguous.
    """
    joined = UNIT_SEPARATOR.join(values)
    if joined.count(UNIT_SEPARATOR) == len(values) - 1:
        return UNIT_SEPARATOR + joined
    return _compact(list(values))


def decode_values(payload: str) -> list[str]:
    if payload.startswith(UNIT_SEPARATOR):
        return payload[1:].split(UNIT_SEPARATOR)
    values: list[str] = json.loads(payload)
    return values


class RowCanonicalizer:
    """Canonical form and hash of rows under one header.

    ``columns`` are the trimmed names in canonical (sorted) order; calling it with a row's values
    (in header order) returns ``(values, content_hash)`` where ``values`` is ``encode_values`` of the
    trimmed values in ``columns`` order.
    """

    def __init__(self, header: Sequence[str]) -> None:
        names = [name.strip() for name in header]
        if len(set(names)) != len(names):
            raise ValueError("a row's column names must be unique once trimmed")
        order = sorted(range(len(names)), key=names.__getitem__)
        self.columns: tuple[str, ...] = tuple(names[i] for i in order)
        self.width = len(names)
        self._pick: Callable[[Sequence[str]], Any]
        if len(order) == 1:
            only = order[0]
            self._pick = lambda values: (values[only],)
        else:
            self._pick = itemgetter(*order)
        self._prefix = (_compact(list(self.columns)) + "\n").encode("utf-8")
        self._base = hashlib.sha256(self._prefix)  # the names are hashed once; each row continues a copy
        self.empty = encode_values([""] * len(names))  # what a row of only blanks encodes to

    def __call__(self, values: Sequence[str]) -> tuple[str, str]:
        trimmed = UNIT_SEPARATOR.join(map(str.strip, self._pick(values)))
        if trimmed.count(UNIT_SEPARATOR) == self.width - 1:  # encode_values, inlined: once per row
            canonical = UNIT_SEPARATOR + trimmed
        else:
            canonical = encode_values(list(map(str.strip, self._pick(values))))
        digest = self._base.copy()
        digest.update(canonical.encode("utf-8"))
        return canonical, digest.hexdigest()


def canonical_row(header: Iterable[str], values: Iterable[str]) -> str:
    """The canonical text of a CSV row (what its hash is taken over)."""
    canon = RowCanonicalizer(list(header))
    return canon._prefix.decode("utf-8") + canon(list(values))[0]


def row_hash(header: Iterable[str], values: Iterable[str]) -> str:
    return RowCanonicalizer(list(header))(list(values))[1]


def is_flat_text(value: Any) -> bool:
    return isinstance(value, Mapping) and all(isinstance(v, str) for v in value.values())


def json_hash(value: Mapping[str, Any] | list[Any]) -> str:
    """Hash of a JSON item. A flat object of strings is a row, so it agrees with the CSV form."""
    if is_flat_text(value):
        assert isinstance(value, Mapping)
        names = [k.strip() for k in value]
        if len(set(names)) == len(names):
            return row_hash(value.keys(), value.values())
    return sha256_text(canonical_json(value))
