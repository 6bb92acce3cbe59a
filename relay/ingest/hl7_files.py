"""An HL7 v2 file into the outbox (INTERFACE §8, folders): one item per message, all of a file's
messages in one transaction; bad messages to ``<name>.rejected-messages.hl7`` with the reasons in
``<name>.error.txt`` (both readable by the owner only), the good ones kept.

Called by ``relay.ingest.files`` where a file's bytes become items, when the watch's format is
"hl7", or "auto" and the file starts like HL7.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import IO, TYPE_CHECKING

from relay.formats.file_errors import FileChanged, FileRejected
from relay.formats.hl7 import Hl7Reader, Hl7Reject, looks_like_hl7
from relay.ingest.entries import Handle, display_name
from relay.store.outbox import Outbox

if TYPE_CHECKING:
    from relay.ingest.files import FileOutcome

log = logging.getLogger("relay.ingest")

CHUNK = 1 << 20
SNIFF = 4096


def rejected_messages_name(source_name: str) -> str:
    """``lab.hl7`` -> ``lab.hl7.rejected-messages.hl7``."""
    return f"{source_name}.rejected-messages.hl7"


def is_hl7_file(handle: Handle, file_format: str) -> bool:
    """Whether the open file is read as HL7: format "hl7", or "auto" and its first bytes say so
    (read through the same handle the file is then read through)."""
    if file_format == "hl7":
        return True
    if file_format != "auto":
        return False
    with handle.reader() as fh:
        head = fh.read(SNIFF)
    return looks_like_hl7(head)


def _private(path: Path) -> IO[bytes]:
    """A new file readable by the owner only (0600 on POSIX), replacing an earlier one."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_BINARY", 0), 0o600)
    return os.fdopen(fd, "wb")


class RejectedMessages:
    """The bad messages of a file and why, written as they appear (memory stays flat). Both
    reports are put in place by ``commit`` (fsynced, renamed); ``discard`` removes the partials."""

    def __init__(self, report_dir: Path, name: str) -> None:
        self.name = name
        self.messages_path = report_dir / rejected_messages_name(name)
        self.errors_path = report_dir / f"{name}.error.txt"
        self._partials = [p.with_name(p.name + ".partial") for p in (self.messages_path, self.errors_path)]
        self._out: list[IO[bytes]] = []
        self.count = 0

    def add(self, reject: Hl7Reject) -> None:
        if not self._out:
            self._out = [_private(p) for p in self._partials]
            self._out[1].write(
                f'relay could not use some messages of the file "{self.name}".\n\n'
                f"They are in {self.messages_path.name}; the other messages were accepted.\n"
                "What to do: fix those messages and drop that file into the folder again.\n\n".encode("utf-8"))
        self._out[0].write(reject.raw + b"\r")
        self._out[1].write(f"message {reject.number}: {reject.reason}\n".encode("utf-8"))
        self.count += 1

    def commit(self) -> Path | None:
        if not self._out:
            return None
        try:
            for out, partial, final in zip(self._out, self._partials, (self.messages_path, self.errors_path)):
                out.flush()
                os.fsync(out.fileno())
                out.close()
                os.replace(partial, final)
        except BaseException:
            self.discard()
            raise
        self._out = []
        return self.messages_path

    def discard(self) -> None:
        for out in self._out:
            out.close()
        self._out = []
        for partial in self._partials:
            partial.unlink(missing_ok=True)


def _chunks(fh: IO[bytes]) -> Iterator[bytes]:
    return iter(lambda: fh.read(CHUNK), b"")


def ingest_hl7_file(outbox: Outbox, handle: Handle, *, name: str, client: str, source: str, now: float,
                    report_dir: Path, report_name: str) -> FileOutcome:
    """Read an HL7 file through its one handle (hashed, then read) into the outbox; nothing of it is
    kept if the file changed or was replaced while it was read (INTERFACE §3a)."""
    from relay.ingest.files import REPLACED_REASON, FileOutcome
    from relay.ingest.files import _already as already_outcome

    report = RejectedMessages(report_dir, report_name)
    path = handle.path
    with handle.reader() as fh:
        digest = hashlib.sha256()
        size = 0
        for chunk in _chunks(fh):
            digest.update(chunk)
            size += len(chunk)
        file_hash = digest.hexdigest()
        fh.seek(0)
        reader = Hl7Reader(_chunks(fh))
        try:
            with outbox.file_transaction(name=name, path=display_name(str(path)), file_hash=file_hash, size=size, source=source,
                                         client=client, columns=None, now=now, kind="hl7") as tx:
                if tx.already_known is not None:
                    return already_outcome(tx.already_known)
                first_reason = None
                for record in reader:
                    if isinstance(record, Hl7Reject):
                        first_reason = first_reason or record.reason
                        report.add(record)
                    else:
                        item = record.item
                        tx.add(item.line or 0, item.payload, item.tracking_id, item.content_hash)
                if reader.messages == 0:
                    if first_reason is None:
                        raise FileRejected("the file holds no HL7 messages")
                    raise FileRejected(f"none of its {reader.rejected} message(s) could be used; the first: "
                                       f"{first_reason}")
                tx.rows_rejected = reader.rejected
                if not handle.unchanged():  # grown, changed or replaced while read: nothing is kept
                    raise FileChanged(REPLACED_REASON)
                rejected_report = report.commit()  # in place before the commit (re-written if it fails)
        finally:
            report.discard()
    log.info("file %s: ledger %d, hash %s, %d HL7 message(s) accepted, %d duplicate, %d rejected",
             name, tx.file_id, file_hash[:12], tx.accepted, tx.duplicates, reader.rejected)
    return FileOutcome(name, "accepted", tx.file_id, tx.accepted, tx.duplicates, reader.rejected, 0,
                       rows_report=rejected_report, unit="message")
