"""What the command line prints, made safe and plain: names with control characters escaped (a
file name may hold a newline or an escape sequence that would rewrite the terminal), which config
and outbox a command uses, and a quiet end when the reader of a pipe goes away (`relay list | head`).
"""

from __future__ import annotations

import os
import sys
import unicodedata
from pathlib import Path

_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t", "\\": "\\\\"}


def shown(text: object) -> str:
    """``text`` with every control or format character (C0, DEL, C1, bidirectional overrides, line
    separators) and every byte that was not UTF-8 (a surrogate escape from a Linux file name)
    written as an escape, so what reaches the terminal is printable and says what is there."""
    s = "" if text is None else str(text)
    if s.isprintable() and "\\" not in s:
        return s
    out = []
    for ch in s:
        code = ord(ch)
        if ch in _NAMED:
            out.append(_NAMED[ch])
        elif 0xDC80 <= code <= 0xDCFF:  # os.fsdecode's stand-in for a byte that is not UTF-8
            out.append(f"\\x{code - 0xDC00:02x}")
        elif unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Zl", "Zp", "Co", "Cn"):
            out.append(f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}")
        else:
            out.append(ch)
    return "".join(out)


def config_note(config_path: Path, exists: bool, outbox: Path) -> str:
    """One line saying where a command without a config file looks."""
    return (f"relay: no config file at {shown(config_path)} (--config FILE or RELAY_CONFIG name another); "
            f"using the defaults, outbox {shown(outbox)}") if not exists else ""


def no_outbox(outbox: Path, config_path: Path, config_exists: bool) -> str:
    source = f"config {shown(config_path)}" if config_exists else "no config file: the defaults"
    return (f"There is no outbox yet at {shown(outbox)} ({source}). Nothing has been received there; "
            "`relay run` or `relay gui` creates it.")


def quiet_broken_pipe() -> int:
    """After the reader of standard output went away: no traceback, no second error at exit."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass
    return 0
