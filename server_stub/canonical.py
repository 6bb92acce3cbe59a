"""Canonical forms and content hashes of items, so duplicates can be counted.

The forms match the agent's own hashing (the numbers must line up):

* CSV row: header names and values trimmed, taken as a mapping, serialised with
  ``json.dumps(mapping, sort_keys=True, separators=(",", ":"), ensure_ascii=False)``, UTF-8, SHA-256.
* JSON item: a flat object of strings is trimmed and serialised like a CSV row; anything else is
  ``json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)``.

``RowCanonicalizer`` builds the CSV form with a function generated per header instead of a dict per
row: the keys are sorted once and every value is JSON-encoded with the same C routine ``json.dumps``
uses, so the text is identical. When a whole body needs neither escaping nor trimming, values go in
as they are, which is what keeps the stub above 20k rows/s.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from json.encoder import encode_basestring
from typing import Any

# Bytes that json.dumps would escape inside a string, apart from CR/LF (unquoted CSV line ends).
_ESCAPED_CONTROLS = bytes(b for b in range(0x20) if b not in (0x0A, 0x0D))
_KEEP_CONTROLS = bytes(b for b in range(256) if b not in _ESCAPED_CONTROLS)
_UNICODE_SPACES = tuple(c for c in map(chr, range(0x80, 0x3001)) if c.isspace())
_LINE_ENDS_AS_COMMAS = bytes.maketrans(b"\r\n", b",,")


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def canonical_item(obj: Any) -> str:
    """Canonical form of a JSON item (see the module docstring)."""
    if isinstance(obj, Mapping) and all(isinstance(v, str) for v in obj.values()):
        return canonical_json({str(k).strip(): v.strip() for k, v in obj.items()})
    return canonical_json(obj)


def csv_body_is_plain(body: bytes, text: str) -> bool:
    """True when no value of this CSV body needs JSON escaping or trimming.

    Without any double quote there are no quoted fields, so no value holds a quote, CR or LF; with
    no backslash and no other control character nothing else needs escaping; and with no space next
    to a separator or line end (and no non-ASCII space at all) nothing needs trimming.
    """
    if b'"' in body or b"\\" in body or body.translate(None, _KEEP_CONTROLS):
        return False
    if body[:1] == b" " or body[-1:] == b" ":
        return False
    separated = body.translate(_LINE_ENDS_AS_COMMAS)
    if b" ," in separated or b", " in separated:
        return False
    return text.isascii() or not any(c in text for c in _UNICODE_SPACES)


class RowCanonicalizer:
    """Canonical forms of the rows under one CSV header (names already trimmed and distinct)."""

    def __init__(self, names: Sequence[str], *, plain: bool = False) -> None:
        if not names:
            raise ValueError("a CSV header needs at least one column")
        self.width = len(names)
        self.canonical: Callable[[Sequence[str]], str] = _row_function(tuple(names), plain)


@functools.lru_cache(maxsize=64)
def _row_function(names: tuple[str, ...], plain: bool) -> Callable[[Sequence[str]], str]:
    """A function building a row's canonical text for this header, generated as Python source:
    ``''.join(('{"a":"', row[2], '","b":"', row[0], ..., '"}'))`` is about twice as fast as a
    ``%`` template, and this runs for every row. Names enter the source only as ``repr()``
    literals and values only as ``row[i]``, so no input can change the code. Cached per header."""
    order = sorted(range(len(names)), key=names.__getitem__)
    pieces = []
    for n, i in enumerate(order):
        opening = "{" if n == 0 else ('",' if plain else ",")
        pieces.append(repr(opening + encode_basestring(names[i]) + (':"' if plain else ":")))
        pieces.append(f"row[{i}]" if plain else f"_encode(row[{i}].strip())")
    pieces.append(repr('"}' if plain else "}"))
    source = f"def canonical(row):\n    return ''.join(({', '.join(pieces)},))\n"
    namespace: dict[str, Any] = {"_encode": encode_basestring}
    exec(compile(source, "<server_stub.canonical>", "exec"), namespace)  # noqa: S102 - see docstring
    return namespace["canonical"]  # type: ignore[no-any-return]
