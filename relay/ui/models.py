"""Lazy table models over the store: a page of rows at a time, never the whole table.

``rowCount`` is what has been loaded; the view asks for more (``canFetchMore``/``fetchMore``) as
the person scrolls, and each page is read on the worker's read lane, so a million items open at
once and scrolling never waits on the disk in the GUI thread. A refresh re-reads the loaded rows
(up to ``REFRESH_LIMIT``) and applies the difference as row insertions and removals, so the
selection and the scroll position stay where they were.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt, Signal

from relay.clock import iso
from relay.store.models import FileRecord, Item
from relay.ui import status_text as words
from relay.ui.icons import state_dot
from relay.ui.reader import Page, Source
from relay.ui.worker import Worker

log = logging.getLogger("relay.ui")

PAGE = 200
REFRESH_LIMIT = 2000

Index = QModelIndex | QPersistentModelIndex
Right = Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter


@dataclass(frozen=True)
class Column:
    key: str
    title: str
    text: Callable[[Any, float], str]
    tip: Callable[[Any, float], str | None] | None = None
    align_right: bool = False
    icon: Callable[[Any], str | None] | None = None  # a state name whose dot is shown


def _source_of(item: Item) -> str:
    if item.source_name:
        return f"{item.source_name}, line {item.line}" if item.line else item.source_name
    return {"listener": "local listener", "ingest": "relay ingest", "watch": "watched folder"}.get(
        item.source, item.source)


ITEM_COLUMNS = (
    Column("received", "Received", lambda i, now: words.stamp(i.created_at), lambda i, now: iso(i.created_at)),
    Column("source", "Source", lambda i, now: _source_of(i)),
    Column("tracking", "Tracking id", lambda i, now: i.tracking_id or ""),
    Column("state", "State", lambda i, now: words.STATE_LABELS.get(i.state, i.state), icon=lambda i: i.state),
    Column("attempts", "Attempts", lambda i, now: str(i.attempts), align_right=True),
    Column("next", "Next attempt", lambda i, now: words.next_attempt(i.state, i.next_attempt_at, now),
           lambda i, now: iso(i.next_attempt_at) if i.state == "pending" else None),
    Column("reason", "Reason", lambda i, now: words.short_reason(i.state, i.last_error, i.attempts, i.forced),
           lambda i, now: words.reason(i.state, i.last_error, i.attempts, i.forced)
           + (f"\nLast answer: HTTP {i.last_status}" if i.last_status else "")),
    Column("receipt", "Receipt", lambda i, now: i.receipt or "", lambda i, now: i.receipt),
)


def _dup_source(d: dict[str, Any]) -> str:
    name = d.get("source_name") or d.get("source") or ""
    return f"{name}, line {d['line']}" if d.get("line") else name


DUPLICATE_COLUMNS = (
    Column("seen", "Skipped", lambda d, now: words.stamp(d["seen_at"]), lambda d, now: iso(d["seen_at"])),
    Column("source", "Source", lambda d, now: _dup_source(d)),
    Column("tracking", "Tracking id", lambda d, now: d.get("tracking_id") or ""),
    Column("original", "Same as result", lambda d, now: f"#{d['original_item_id']}" if d.get("original_item_id")
           else "", align_right=True),
    Column("original_state", "Its state", lambda d, now: words.STATE_LABELS.get(d.get("original_state") or "", ""),
           icon=lambda d: d.get("original_state")),
    Column("original_file", "First received from", lambda d, now: d.get("original_source_name") or ""),
)

FILE_OUTCOMES = {"accepted": "Accepted", "rejected": "Rejected", "ignored": "Ignored"}


def _file_count(f: Any, n: int) -> str:
    return "" if f.outcome == "ignored" else f"{n:,}"  # an ignored file was never read


FILE_COLUMNS = (
    Column("received", "Received", lambda f, now: "" if f.outcome == "ignored" else words.stamp(f.created_at),
           lambda f, now: None if f.outcome == "ignored" else iso(f.created_at)),
    Column("name", "File", lambda f, now: f.name, lambda f, now: f.path),
    Column("outcome", "Outcome", lambda f, now: FILE_OUTCOMES.get(f.outcome, f.outcome.capitalize()),
           icon=lambda f: f.outcome),
    Column("accepted", "Results", lambda f, now: _file_count(f, f.rows_accepted), align_right=True),
    Column("duplicates", "Duplicates", lambda f, now: _file_count(f, f.rows_duplicate), align_right=True),
    Column("rejected", "Rejected rows", lambda f, now: _file_count(f, f.rows_rejected), align_right=True),
    Column("reason", "Reason", lambda f, now: f.reason or "", lambda f, now: f.reason),
    Column("moved", "Moved to", lambda f, now: f.moved_to or "", lambda f, now: f.moved_to),
)


class PagedModel(QAbstractTableModel):
    pageLoaded = Signal()  # rows arrived (first page, more, or a refresh)
    loadFailed = Signal(str)

    def __init__(self, worker: Worker, columns: Sequence[Column], now: Callable[[], float],
                 parent: Any = None) -> None:
        super().__init__(parent)
        self.worker = worker
        self.columns = tuple(columns)
        self.now = now
        self.source: Source | None = None
        self._rows: list[Any] = []
        self._keys: set[object] = set()
        self._cursor = (0, 0)
        self._more = False
        self._busy = False
        self._refresh_wanted = False
        self._generation = 0
        self.loaded_once = False
        self.stale = False  # more rows loaded than a refresh re-reads: F5 reloads
        self.failed = False  # the last read failed (e.g. the outbox did not exist yet)

    # -- the source --------------------------------------------------------------------------

    def set_source(self, source: Source) -> None:
        """Show ``source`` from its first page (the view's scroll position starts over)."""
        self._generation += 1
        self.beginResetModel()
        self.source = source
        self._rows, self._keys = [], set()
        self._cursor, self._more, self._busy, self._refresh_wanted = (0, 0), True, False, False
        self.loaded_once, self.stale, self.failed = False, False, False
        self.endResetModel()
        self.fetchMore(QModelIndex())

    def reload(self) -> None:
        if self.source is not None:
            self.set_source(self.source)

    @property
    def busy(self) -> bool:
        return self._busy

    @property
    def has_more(self) -> bool:
        return self._more

    def row(self, r: int) -> Any:
        return self._rows[r]

    def rows(self) -> list[Any]:
        return list(self._rows)

    # -- paging ----------------------------------------------------------------------------------

    def canFetchMore(self, parent: Index = QModelIndex()) -> bool:  # noqa: B008 - Qt's signature
        return not parent.isValid() and self.source is not None and self._more and not self._busy

    def fetchMore(self, parent: Index = QModelIndex()) -> None:  # noqa: B008
        if not self.canFetchMore(parent):
            return
        assert self.source is not None
        self._busy = True
        source, cursor, gen = self.source, self._cursor, self._generation
        self.worker.read(lambda: source.page(cursor, PAGE), lambda page: self._append(gen, page),
                         lambda exc: self._failed(gen, exc))

    def _append(self, gen: int, page: Page) -> None:
        if gen != self._generation:
            return
        assert self.source is not None
        fresh = [r for r in page.rows if self.source.key(r) not in self._keys]  # rows shifted under paging
        if fresh:
            first = len(self._rows)
            self.beginInsertRows(QModelIndex(), first, first + len(fresh) - 1)
            self._rows += fresh
            self._keys.update(self.source.key(r) for r in fresh)
            self.endInsertRows()
        self._cursor, self._more = page.cursor, page.more
        self._done()

    def _failed(self, gen: int, exc: BaseException) -> None:
        if gen != self._generation:
            return
        self._busy = False
        self._more = False
        self.failed = True
        self.loadFailed.emit(str(exc))

    def _done(self) -> None:
        self._busy = False
        self.loaded_once = True
        self.pageLoaded.emit()
        if self._refresh_wanted:
            self._refresh_wanted = False
            self.refresh()

    # -- refresh ---------------------------------------------------------------------------------

    def refresh(self) -> None:
        """Re-read the loaded rows and apply what changed (new rows, rows that left this view,
        changed cells). With more than REFRESH_LIMIT rows loaded, only mark the view stale."""
        if self.source is None:
            return
        if self._busy:
            self._refresh_wanted = True
            return
        if len(self._rows) > REFRESH_LIMIT:
            self.stale = True
            self.pageLoaded.emit()
            return
        self._busy = True
        source, gen, n = self.source, self._generation, max(len(self._rows), PAGE)
        self.worker.read(lambda: source.page((0, 0), n), lambda page: self._merge(gen, page),
                         lambda exc: self._failed(gen, exc))

    def _merge(self, gen: int, page: Page) -> None:
        if gen != self._generation:
            return
        assert self.source is not None
        key = self.source.key
        new_rows = page.rows
        new_keys = [key(r) for r in new_rows]
        wanted = set(new_keys)
        # 1. rows that left, removed bottom-up in runs
        r = len(self._rows) - 1
        while r >= 0:
            if key(self._rows[r]) in wanted:
                r -= 1
                continue
            last = r
            while r >= 0 and key(self._rows[r]) not in wanted:
                r -= 1
            self.beginRemoveRows(QModelIndex(), r + 1, last)
            del self._rows[r + 1:last + 1]
            self.endRemoveRows()
        # 2. the rows kept must be in the new order; if not (should not happen), start over
        position = {k: i for i, k in enumerate(new_keys)}
        kept = [position[key(x)] for x in self._rows]
        if kept != sorted(kept):
            self.beginResetModel()
            self._rows = list(new_rows)
            self.endResetModel()
        else:
            # 3. new rows inserted in runs where they belong; kept rows get their new values
            j = i = 0
            while i < len(new_rows):
                if j < len(self._rows) and key(self._rows[j]) == new_keys[i]:
                    self._rows[j] = new_rows[i]
                    i, j = i + 1, j + 1
                    continue
                start = i
                while i < len(new_rows) and (j >= len(self._rows) or new_keys[i] != key(self._rows[j])):
                    i += 1
                self.beginInsertRows(QModelIndex(), j, j + i - start - 1)
                self._rows[j:j] = new_rows[start:i]
                self.endInsertRows()
                j += i - start
            if self._rows:
                self.dataChanged.emit(self.index(0, 0), self.index(len(self._rows) - 1, len(self.columns) - 1))
        self._keys = set(new_keys)
        self._cursor, self._more = page.cursor, page.more
        self.stale = False
        self._done()

    # -- Qt's questions ------------------------------------------------------------------------------

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.columns)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if orientation == Qt.Orientation.Horizontal and 0 <= section < len(self.columns):
            col = self.columns[section]
            if role == Qt.ItemDataRole.DisplayRole:
                return col.title
            if role == Qt.ItemDataRole.TextAlignmentRole:
                return int(Right if col.align_right else Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
        return None

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or index.row() >= len(self._rows):
            return None
        row = self._rows[index.row()]
        col = self.columns[index.column()]
        if role == Qt.ItemDataRole.DisplayRole:
            return col.text(row, self.now())
        if role == Qt.ItemDataRole.ToolTipRole:
            return col.tip(row, self.now()) if col.tip else None
        if role == Qt.ItemDataRole.DecorationRole and col.icon is not None:
            state = col.icon(row)
            return state_dot(state) if state else None
        if role == Qt.ItemDataRole.TextAlignmentRole and col.align_right:
            return int(Right)
        if role == Qt.ItemDataRole.UserRole:
            return row
        return None

    def column_index(self, key: str) -> int:
        return next(i for i, c in enumerate(self.columns) if c.key == key)


def item_ids(rows: Sequence[Any]) -> list[int]:
    return [r.id for r in rows if isinstance(r, Item)]


def is_file(row: Any) -> bool:
    return isinstance(row, FileRecord)
