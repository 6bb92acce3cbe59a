"""Canonical forms and content hashes (INTERFACE §4).

The same result gives the same hash however it arrives: a CSV row is taken as a mapping of trimmed
header names to trimmed values (column order does not matter); a JSON object is serialised with
sorted keys and no insignificant whitespace (RFC 8785 style). A CSV row and a flat JSON object of
the same strings therefore hash alike.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterable, Mapping
from typing import Any


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


def canonical_row(header: Iterable[str], values: Iterable[str]) -> str:
    """Canonical form of a CSV row: trimmed names -> trimmed values, as canonical JSON."""
    mapping = {name.strip(): value.strip() for name, value in zip(header, values)}
    return json.dumps(mapping, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def row_hash(header: Iterable[str], values: Iterable[str]) -> str:
    return sha256_text(canonical_row(header, values))


def json_hash(value: Mapping[str, Any] | list[Any]) -> str:
    """Hash of a JSON item. A flat object of strings is trimmed like a CSV row so both agree."""
    if isinstance(value, Mapping) and all(isinstance(v, str) for v in value.values()):
        return row_hash(value.keys(), value.values())
    return sha256_text(canonical_json(value))
