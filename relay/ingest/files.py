"""Reading one file into the outbox: the path shared by the folder watcher and `relay ingest`.

All of a file's good rows go into the outbox in one durable transaction, with the file's entry in
the ledger. Rows that cannot be used go to ``<name>.rejected-rows.csv`` with a reason; a file that
cannot be used at all gets ``<name>.error.txt``. Nothing here moves the file: the caller does that
only after this returns (the commit is durable by then).
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import BinaryIO

from relay.config import TranslateConfig
from relay.errors import TransientError
from relay.formats.csv_reader import CsvFile, FileRejected, RowReject, open_csv_stream
from relay.formats.file_errors import FileChanged
from relay.ingest import parse_helper
from relay.ingest.entries import Handle, NotRegular, display_name, not_regular_reason
from relay.ingest.hl7_files import ingest_hl7_file, is_hl7_file
from relay.ingest.reports import RejectedRowsWriter, error_name, error_text, private_opener, rejected_rows_name
from relay.ingest.translate import ITEM_KIND as TRANSLATED_KIND
from relay.ingest.translate import Refused, RowTranslation, translation_for
from relay.store.models import FileRecord
from relay.store.roles import ItemSink

log = logging.getLogger("relay.ingest")


@dataclass(frozen=True)
class FileOutcome:
    name: str
    status: str  # "accepted" | "already" (met before: nothing added) | "rejected"
    file_id: int | None
    accepted: int = 0
    duplicates: int = 0
    rows_rejected: int = 0
    blank_rows: int = 0
    reason: str | None = None
    rows_report: Path | None = None
    error_report: Path | None = None
    unit: str = "row"  # what rows_rejected counts: "row" (CSV) or "message" (HL7)
    identity: tuple[int, int, int, int] | None = None  # device, inode, size, mtime of the file read

    def summary(self) -> str:
        if self.status == "rejected":
            return f"{self.name}: rejected — {self.reason}"
        head = f"{self.name}: {self.accepted} accepted, {self.duplicates} duplicate, {self.rows_rejected} rejected {self.unit}(s)"
        if self.status == "already":
            head = f"{self.name}: already taken earlier ({self.accepted} accepted then); nothing added"
        if self.rows_report:
            head += f" (see {self.rows_report.name})"
        return head


REPLACED_REASON = "The file changed or was replaced while it was read; the file now there is read afresh."


def file_sha256(path: Path) -> str:
    with path.open("rb") as fh:
        return stream_sha256(fh)


def stream_sha256(stream: BinaryIO) -> str:
    h = hashlib.sha256()
    with stream:
        for chunk in iter(lambda: stream.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def write_error_report(report_dir: Path, name: str, reason: str) -> Path:
    """``<name>.error.txt`` in ``report_dir``, readable by the owner only (it may name a patient)."""
    path = report_dir / error_name(name)
    partial = path.with_name(path.name + ".partial")
    with open(partial, "w", encoding="utf-8", opener=private_opener) as fh:
        fh.write(error_text(reason, display_name(name)))
    os.replace(partial, path)
    return path


def ingest_file(
    outbox: ItemSink,
    path: Path,
    *,
    client: str,
    source: str,
    now: float,
    report_dir: Path,
    tracking_column: str | None = None,
    name: str | None = None,
    report_name: str | None = None,
    file_format: str = "auto",
    translate: TranslateConfig | None = None,
    read_ahead: Path | None = None,
) -> FileOutcome:
    """Read ``path`` into the outbox through one open handle. Raises TransientError when the file
    cannot be read right now (vanished, locked, changed or replaced while read): the caller tries
    again later. Something that is not a regular file is rejected whole, never opened.

    ``name`` is what the ledger, the reports and the intake call the file (any name: bytes that are
    not UTF-8 are shown escaped); ``report_name`` the name its reports are written under. HL7 files
    (``file_format`` "hl7", or "auto" and the first bytes say so) give one item per message; with
    ``translate`` on, each CSV row is sent as the HL7 ELR message made from it (INTERFACE §8, §10).
    ``read_ahead``: the file likely to be read next (a folder's next one), which a large file's
    row-reading helper may read meanwhile (``relay.ingest.parse_helper``)."""
    label = display_name(name or path.name)
    report_name = report_name or (name or path.name)
    try:
        handle = Handle(path)
    except NotRegular as exc:
        reason = not_regular_reason(exc.kind)
        record = outbox.record_rejected_file(name=label, path=display_name(str(path)), file_hash=f"not-a-file:{exc.kind}",
                                             size=0, source=source, reason=reason, now=now)
        report = write_error_report(report_dir, report_name, reason)
        log.info("%s is %s: rejected unopened (ledger %d)", label, exc.kind, record.id)
        return FileOutcome(label, "rejected", record.id, reason=reason, error_report=report)
    except OSError as exc:
        raise TransientError(f"{label}: cannot be read right now ({exc.strerror or exc})") from exc
    with handle:
        try:
            outcome = _read(outbox, handle, label, report_name, client, source, now, report_dir, tracking_column,
                            file_format, translate, read_ahead)
        except parse_helper.HelperStopped:  # nothing of the file was kept: read it here instead
            outcome = _read(outbox, handle, label, report_name, client, source, now, report_dir, tracking_column,
                            file_format, translate, helper=False)
    i = handle.identity
    return replace(outcome, identity=(i.dev, i.ino, i.size, i.mtime_ns))


def _read(outbox: ItemSink, handle: Handle, label: str, report_name: str, client: str, source: str, now: float,
          report_dir: Path, tracking_column: str | None, file_format: str = "auto",
          translate: TranslateConfig | None = None, read_ahead: Path | None = None,
          helper: bool = True) -> FileOutcome:
    path = handle.path
    try:
        if is_hl7_file(handle, file_format):  # HL7 v2 (INTERFACE §8): one item per message
            return ingest_hl7_file(outbox, handle, name=label, client=client, source=source, now=now,
                                   report_dir=report_dir, report_name=report_name)
        ahead = (read_ahead, tracking_column) if read_ahead is not None and file_format != "hl7" else None
        return _ingest(outbox, handle, label, client, source, now, report_dir, report_name, tracking_column,
                       translate, ahead, helper)
    except FileRejected as exc:
        try:
            file_hash, size = stream_sha256(handle.reader()), handle.identity.size
            if not handle.unchanged():
                raise FileChanged(REPLACED_REASON)
        except OSError as os_exc:
            raise TransientError(f"{label}: cannot be read right now ({os_exc.strerror})") from os_exc
        record = outbox.record_rejected_file(name=label, path=display_name(str(path)), file_hash=file_hash,
                                             size=size, source=source, reason=exc.reason, now=now)
        report = write_error_report(report_dir, report_name, exc.reason)
        log.info("file %s rejected whole (ledger %d, hash %s)", label, record.id, file_hash[:12])
        return FileOutcome(label, "rejected", record.id, reason=exc.reason, error_report=report)
    except OSError as exc:
        raise TransientError(f"{label}: cannot be read right now ({exc.strerror or exc})") from exc


def _ingest(outbox: ItemSink, handle: Handle, name: str, client: str, source: str, now: float, report_dir: Path,
            report_name: str, tracking_column: str | None, translate: TranslateConfig | None = None,
            ahead: tuple[Path, str | None] | None = None, helper: bool = True) -> FileOutcome:
    path = handle.path
    data: CsvFile = open_csv_stream(handle.reader, name, path, tracking_column)
    report = RejectedRowsWriter(report_dir / rejected_rows_name(report_name), data.header)
    translation = translation_for(translate, data.header)
    refused = 0
    try:
        with outbox.file_transaction(name=name, path=display_name(str(path)), file_hash=data.file_hash, size=data.size,
                                     source=source, client=client, columns=data.canonical_columns, now=now,
                                     kind=TRANSLATED_KIND if translation else "row") as tx:
            if tx.already_known is not None:
                report.discard()
                return _already(tx.already_known)
            add = tx.add
            if translation is None:
                _add_rows(data, handle, add, report, ahead, helper)
            else:
                refused = _add_translated(data, translation, add, report, now)
            tx.rows_rejected = data.rows_rejected + refused
            tx.blank_rows = data.blank_rows
            # The last look before the commit: rows of a file that grew, changed or was replaced by
            # another under its name while it was read are never kept.
            if not handle.unchanged():
                raise FileChanged(REPLACED_REASON)
            # The report is in place before the rows commit: if that commit fails, or the process dies
            # in between, the file is read again later and the report written again; never the reverse.
            rows_report = report.commit()
    except BaseException:
        report.discard()
        raise
    log.info("file %s: ledger %d, hash %s, %d accepted, %d duplicate, %d rejected rows",
             name, tx.file_id, data.file_hash[:12], tx.accepted, tx.duplicates, tx.rows_rejected)
    return FileOutcome(name, "accepted", tx.file_id, tx.accepted, tx.duplicates, tx.rows_rejected,
                       data.blank_rows, rows_report=rows_report)


def _add_rows(data: CsvFile, handle: Handle, add: Callable[..., None], report: RejectedRowsWriter,
              ahead: tuple[Path, str | None] | None, helper: bool) -> None:
    """Each good row into the file's transaction, each rejected row into the report: read by the
    row-reading helper process when the file is large (``relay.ingest.parse_helper``), else here.
    A helper that stops mid-file raises HelperStopped (the caller reads the file again here)."""
    i = handle.identity
    helped = parse_helper.shared().rows(data, (i.dev, i.ino, i.size, i.mtime_ns), ahead) if helper else None
    if helped is None:
        for record in data:
            if isinstance(record, RowReject):
                report.add(record)
            else:
                add(record.line, record.canonical, record.tracking_id, record.content_hash)
        return
    try:
        for found in helped:
            if isinstance(found, RowReject):
                report.add(found)
            else:
                add(*found)
    finally:  # left early (an error storing a row): the helper is let go now, not when collected
        helped.close()


def _add_translated(data: CsvFile, translation: RowTranslation, add: Callable[..., None],
                    report: RejectedRowsWriter, now: float) -> int:
    """Each good row with its HL7 message as the wire form; rows that cannot become one are rejected.
    Returns how many were refused; when no row could be used, the file is rejected whole."""
    refused = taken = 0
    first = ""
    for record in data:
        if isinstance(record, RowReject):
            report.add(record)
            continue
        message = translation(record.values, tracking_id=record.tracking_id, content_hash=record.content_hash,
                              now=now)
        if isinstance(message, Refused):
            reason = f"line {record.line}: {message.reason}"
            report.add(RowReject(record.line, reason, record.values))
            refused += 1
            first = first or reason
            continue
        add(record.line, record.canonical, record.tracking_id, record.content_hash, message)
        taken += 1
    if not taken and refused:
        if refused == 1:
            raise FileRejected(f"The only data row could not be used: {first}.")
        raise FileRejected(f"None of the {refused:,} data rows could be used: {first}.")
    return refused


def _already(record: FileRecord) -> FileOutcome:
    if record.outcome == "rejected":
        return FileOutcome(record.name, "rejected", record.id, reason=record.reason)
    return FileOutcome(record.name, "already", record.id, record.rows_accepted, record.rows_duplicate,
                       record.rows_rejected, record.blank_rows)
