"""What relay leaves beside a file it could not fully use: the rejected rows and the error text."""

from __future__ import annotations

import csv
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from relay.formats.csv_reader import RowReject


def rejected_rows_name(source_name: str) -> str:
    """``results.csv`` -> ``results.csv.rejected-rows.csv``."""
    return f"{source_name}.rejected-rows.csv"


def error_name(source_name: str) -> str:
    """``results.csv`` -> ``results.csv.error.txt``."""
    return f"{source_name}.error.txt"


def write_rejected_rows(
    path: os.PathLike[str] | str, header: Sequence[str], rejects: Iterable[RowReject]
) -> int:
    """Write the rejected rows to ``path`` (name it with ``rejected_rows_name``); returns how many.

    UTF-8 with a BOM and CRLF so Excel opens it as it is: columns ``line``, ``reason``, then the
    file's own columns, one row per reject with its fields as read. The file appears complete or
    not at all (written beside, then renamed over any earlier copy).
    """
    target = Path(path)
    partial = target.with_name(target.name + ".partial")
    count = 0
    try:
        with open(partial, "w", encoding="utf-8-sig", newline="") as out:
            writer = csv.writer(out, lineterminator="\r\n")
            writer.writerow(["line", "reason", *header])
            for reject in rejects:
                writer.writerow([reject.line, reject.reason, *reject.fields])
                count += 1
            out.flush()
            os.fsync(out.fileno())
        os.replace(partial, target)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return count


def error_text(reason: str, source_name: str) -> str:
    """The text of ``<name>.error.txt`` for a file rejected as a whole."""
    return (
        f'relay could not use the file "{source_name}".\n'
        "\n"
        f"What is wrong: {reason}\n"
        "\n"
        "Nothing from this file was sent.\n"
        "What to do: fix the file and drop it into the folder again.\n"
    )
