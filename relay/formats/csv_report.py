"""What relay leaves beside a file it could not fully use: the rejected rows and the error text."""

from __future__ import annotations

import csv
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import IO, TYPE_CHECKING

if TYPE_CHECKING:
    from relay.formats.csv_reader import RowReject


def private_opener(path: str, flags: int) -> int:
    """For ``open(..., opener=private_opener)``: a report holds patient data, so only the owner may
    read it (0600 on POSIX), also when an older copy with wider rights is written over."""
    fd = os.open(path, flags, 0o600)
    if hasattr(os, "fchmod"):
        try:
            os.fchmod(fd, 0o600)
        except OSError:  # a file system without POSIX modes (a share): nothing more to do
            pass
    return fd


def rejected_rows_name(source_name: str) -> str:
    """``results.csv`` -> ``results.csv.rejected-rows.csv``."""
    return f"{source_name}.rejected-rows.csv"


def error_name(source_name: str) -> str:
    """``results.csv`` -> ``results.csv.error.txt``."""
    return f"{source_name}.error.txt"


class RejectedRowsWriter:
    """``<name>.rejected-rows.csv``, written as rejects appear (memory stays flat).

    UTF-8 with a BOM and CRLF so Excel opens it as it is: columns ``line``, ``reason``, then the
    file's own columns, one row per reject with its fields as read. Nothing is written until the
    first reject; ``commit`` puts the complete file in place (fsynced, then renamed over any earlier
    copy), ``discard`` removes the partial one.
    """

    def __init__(self, path: os.PathLike[str] | str, header: Sequence[str]) -> None:
        self.path = Path(path)
        self.partial = self.path.with_name(self.path.name + ".partial")
        self.header = tuple(header)
        self.count = 0
        self._out: IO[str] | None = None

    def add(self, reject: RowReject) -> None:
        if self._out is None:
            self._out = open(self.partial, "w", encoding="utf-8-sig", newline="",  # noqa: SIM115
                             opener=private_opener)
            self._writer = csv.writer(self._out, lineterminator="\r\n")
            self._writer.writerow(["line", "reason", *self.header])
        self._writer.writerow([reject.line, reject.reason, *reject.fields])
        self.count += 1

    def commit(self) -> Path | None:
        """The report's path, or None when there was nothing to report."""
        if self._out is None:
            return None
        try:
            self._out.flush()
            os.fsync(self._out.fileno())
            self._out.close()
            os.replace(self.partial, self.path)
        except BaseException:
            self.discard()
            raise
        return self.path

    def discard(self) -> None:
        if self._out is not None:
            self._out.close()
            self._out = None
            self.partial.unlink(missing_ok=True)


def write_rejected_rows(
    path: os.PathLike[str] | str, header: Sequence[str], rejects: Iterable[RowReject]
) -> int:
    """Write the rejected rows to ``path`` (name it with ``rejected_rows_name``); returns how many."""
    writer = RejectedRowsWriter(path, header)
    try:
        for reject in rejects:
            writer.add(reject)
    except BaseException:
        writer.discard()
        raise
    if writer.commit() is None:  # no rejects: still leave an (empty) report, as asked
        write_empty = RejectedRowsWriter(path, header)
        write_empty._out = open(write_empty.partial, "w", encoding="utf-8-sig", newline="",  # noqa: SIM115
                                opener=private_opener)
        csv.writer(write_empty._out, lineterminator="\r\n").writerow(["line", "reason", *header])
        write_empty.commit()
    return writer.count


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
