"""What the Files view says about each file, beyond the ledger's counts: why rows were rejected
(read from the ``<name>.rejected-rows.csv`` report relay left), the files that matched no pattern
(*ignored*, from the status object's ``ignored_files`` when the agent reports them), and which
rejections a person has not seen yet. Pure Python, run on the window's read thread.
"""

from __future__ import annotations

import csv
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from relay.config import WatchConfig
from relay.ingest.reports import rejected_rows_name
from relay.store.models import FileRecord

log = logging.getLogger("relay.ui")

MAX_REJECTS_SHOWN = 500
IGNORED = "ignored"


@dataclass(frozen=True)
class FileRow(FileRecord):
    """A ledger row as the window shows it."""

    report: str | None = None  # the rejected-rows report, when one was found
    rejects: tuple[tuple[str, str], ...] = ()  # (line, reason) of rejected rows, the first MAX_REJECTS_SHOWN
    rejects_total: int = 0


def needs_attention(f: FileRecord) -> bool:
    return f.outcome == "rejected" or f.rows_rejected > 0


def rows_report_for(f: FileRecord, watches: Sequence[WatchConfig]) -> Path | None:
    """Where the rejected-rows report of ``f`` is: the rejected folder of the watched folder it
    came from, or (``relay ingest``) beside the file itself."""
    if f.path is None:
        return None
    source = Path(f.path)
    places = [w.rejected_folder for w in watches if _same(w.folder, source.parent)]
    places.append(source.parent)
    for place in places:
        candidate = place / rejected_rows_name(f.name)
        if candidate.is_file():
            return candidate
    return None


def _same(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve()
    except OSError:
        return a == b


def read_rejects(path: Path, limit: int = MAX_REJECTS_SHOWN) -> tuple[list[tuple[str, str]], int]:
    """(line, reason) of the first ``limit`` rejected rows in a report, and how many it holds."""
    rows: list[tuple[str, str]] = []
    total = 0
    with path.open(encoding="utf-8-sig", newline="") as fh:
        reader = csv.reader(fh)
        next(reader, None)  # line, reason, the file's own columns
        for rec in reader:
            total += 1
            if len(rows) < limit:
                line = rec[0] if rec else ""
                reason = rec[1] if len(rec) > 1 else ""
                rows.append((line, reason.removeprefix(f"line {line}: ")))  # the reader may say the line too
    return rows, total


def with_reasons(f: FileRecord, watches: Sequence[WatchConfig]) -> FileRow:
    """``f`` with its rejected rows' reasons, and a Reason cell that says them."""
    row = FileRow(*_fields(f))
    if f.outcome != "accepted" or f.rows_rejected <= 0:
        return row
    report = rows_report_for(f, watches)
    n = f.rows_rejected
    what = f"{n:,} row{'s' if n != 1 else ''} rejected"
    if report is None:
        return replace(row, reason=f"{what}: the report {rejected_rows_name(f.name)} with the reasons was not found "
                                   "(moved or removed)")
    try:
        rejects, total = read_rejects(report)
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        log.info("file %d: its rejected-rows report cannot be read: %s", f.id, exc)
        return replace(row, report=str(report), reason=f"{what}: the reasons are in {report}")
    reasons = list(dict.fromkeys(reason for _, reason in rejects if reason))
    said = "; ".join(f"line {line}: {reason}" for line, reason in rejects[:2])
    if len(rejects) > 2 or len(reasons) > 2:
        said += "; …"
    return replace(row, report=str(report), rejects=tuple(rejects), rejects_total=total,
                   reason=f"{what}: {said}" if said else what)


def _fields(f: FileRecord) -> tuple[Any, ...]:
    return (f.id, f.name, f.path, f.file_hash, f.outcome, f.rows_accepted, f.rows_duplicate, f.rows_rejected,
            f.blank_rows, f.reason, f.moved_to, f.created_at)


def ignored_rows(stats: dict[str, Any], search: str | None = None) -> list[FileRow]:
    """The files the watcher left alone because they match no pattern (status ``ignored_files``:
    a list of {folder, name}; absent on agents that do not report them)."""
    found = stats.get("ignored_files")
    if not isinstance(found, list):
        return []
    out = []
    for n, entry in enumerate(found, start=1):
        if not isinstance(entry, dict) or not entry.get("name"):
            continue
        name, folder = str(entry["name"]), str(entry.get("folder") or "")
        if search and search.lower() not in name.lower():
            continue
        out.append(FileRow(-n, name, str(Path(folder) / name) if folder else None, "", IGNORED, 0, 0, 0, 0,
                           "matches none of the folder's file patterns: not read, left where it is", None, 0.0))
    return out


def unseen(files: Iterable[FileRecord], seen_up_to: int) -> tuple[list[FileRecord], int]:
    """Files newer than ``seen_up_to`` (a ledger id) that need a person, newest first, and the
    newest id looked at (the mark once a person has seen them)."""
    newest = seen_up_to
    found = []
    for f in files:
        newest = max(newest, f.id)
        if f.id > seen_up_to and needs_attention(f):
            found.append(f)
    return found, newest


def attention_text(files: Sequence[FileRecord]) -> str:
    """One sentence for the tray and the summary line."""
    whole = [f for f in files if f.outcome == "rejected"]
    rows = [f for f in files if f.outcome != "rejected"]
    parts = []
    if whole:
        parts.append(f"{whole[0].name} was rejected" if len(whole) == 1 else f"{len(whole):,} files were rejected")
    if rows:
        n = sum(f.rows_rejected for f in rows)
        where = rows[0].name if len(rows) == 1 else f"{len(rows):,} files"
        parts.append(f"{n:,} row{'s' if n != 1 else ''} of {where} {'were' if n != 1 else 'was'} rejected")
    return "; ".join(parts) + " (see Files)"
