"""Writing relay.toml back: a small TOML writer for the shapes the configuration has.

The configuration is tables of scalars (``[intake]``), arrays of tables of scalars (``[[watch]]``)
and, for generality, nested tables and arrays of scalars. ``tomllib`` reads it back to the same
values (tested as a round trip). Comments in the file are not kept: the previous file is saved
beside it as ``relay.toml.bak`` before it is replaced, atomically. Both are readable by this user
only: the file may hold the local listener's token.
"""

from __future__ import annotations

import math
import os
import re
import tempfile
from collections.abc import Mapping
from datetime import date, datetime, time
from pathlib import Path
from typing import Any

PRIVATE = 0o600
_BARE = re.compile(r"^[A-Za-z0-9_-]+$")
_ESCAPES = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\t": "\\t", "\n": "\\n", "\f": "\\f", "\r": "\\r"}


def _key(k: str) -> str:
    return k if _BARE.match(k) else _string(k)


def _string(s: str) -> str:
    out = []
    for ch in s:
        if ch in _ESCAPES:
            out.append(_ESCAPES[ch])
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\u{ord(ch):04X}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def _value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if math.isnan(v):
            return "nan"
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        text = repr(v)
        return text if any(c in text for c in ".en") else text + ".0"
    if isinstance(v, str):
        return _string(v)
    if isinstance(v, (datetime, date, time)):
        return v.isoformat()
    if isinstance(v, (list, tuple)):
        if any(isinstance(x, Mapping) for x in v):
            raise TypeError("an array of tables inside an inline array is not supported")
        return "[" + ", ".join(_value(x) for x in v) + "]"
    if isinstance(v, Mapping):
        return "{ " + ", ".join(f"{_key(k)} = {_value(x)}" for k, x in v.items()) + " }"
    raise TypeError(f"cannot write {type(v).__name__} to TOML")


def _is_table_array(v: Any) -> bool:
    return isinstance(v, (list, tuple)) and bool(v) and all(isinstance(x, Mapping) for x in v)


def _table(lines: list[str], path: list[str], table: Mapping[str, Any], header: str | None) -> None:
    scalars = [(k, v) for k, v in table.items() if not isinstance(v, Mapping) and not _is_table_array(v)]
    if header is not None and (scalars or not any(isinstance(v, Mapping) or _is_table_array(v)
                                                   for v in table.values())):
        if lines:
            lines.append("")
        lines.append(header)
    for k, v in scalars:
        lines.append(f"{_key(k)} = {_value(v)}")
    for k, v in table.items():
        sub = [*path, _key(k)]
        if isinstance(v, Mapping):
            _table(lines, sub, v, f"[{'.'.join(sub)}]")
        elif _is_table_array(v):
            for item in v:
                if lines:
                    lines.append("")
                lines.append(f"[[{'.'.join(sub)}]]")
                _table(lines, sub, item, None)


def dumps(data: Mapping[str, Any]) -> str:
    lines: list[str] = []
    _table(lines, [], data, None)
    return "\n".join(lines) + "\n"


def write_file(path: Path, data: Mapping[str, Any]) -> Path | None:
    """Replace ``path`` atomically with ``data``; the previous file is kept as ``<name>.bak``.
    Returns the backup's path, if one was made."""
    text = dumps(data)
    path.parent.mkdir(parents=True, exist_ok=True)
    backup = None
    if path.exists():
        backup = path.with_name(path.name + ".bak")
        fd = os.open(backup, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, PRIVATE)
        with os.fdopen(fd, "wb") as fh:
            fh.write(path.read_bytes())
        os.chmod(backup, PRIVATE)  # also when an older backup was there with a wider mode
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)  # created 0600
    try:
        os.chmod(tmp, PRIVATE)
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return backup
