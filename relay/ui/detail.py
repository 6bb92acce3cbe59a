"""The detail pane: the selected result's own fields and values, and its history.

This is the only place in the app where a result's content (patient data) is shown. It is read
when a row is selected and dropped when the selection goes.
"""

from __future__ import annotations

import html
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QFontDatabase
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHeaderView,
    QFrame,
    QLabel,
    QPlainTextEdit,
    QScrollArea,
    QSplitter,
    QStackedWidget,
    QTabWidget,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from relay.clock import iso
from relay.store.models import FileRecord, Item
from relay.store.queries import HistoryEntry
from relay.ui import status_text as words
from relay.ui.export import fields_of
from relay.ui.reader import StoreReader
from relay.ui.worker import Worker

HISTORY_WORDS = {
    "received": "Received",
    "formed": "Put in a batch",
    "delivered": "Delivered",
    "retry": "Not delivered: will retry",
    "deferred": "Intake unavailable: waited",
    "closed": "Batch closed",
    "lease expired": "Sending interrupted (relay stopped): will retry",
    "duplicate skipped": "Duplicate skipped",
    "discard": "Discarded: will not be sent",
}
PERSON_ACTIONS = ("retry", "resend", "discard")  # audit entries: detail "by ACTOR" or "by ACTOR: REASON"
ACTORS = {"person": "by a person", "cli": "from the command line"}


def _table(headers: list[str]) -> QTableWidget:
    t = QTableWidget(0, len(headers))
    t.setHorizontalHeaderLabels(headers)
    t.verticalHeader().setVisible(False)
    t.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    t.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    t.setWordWrap(False)
    t.setAlternatingRowColors(True)
    t.horizontalHeader().setStretchLastSection(True)
    t.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
    t.verticalHeader().setDefaultSectionSize(t.fontMetrics().height() + 6)
    return t


def _fill(table: QTableWidget, rows: list[tuple[str, ...]], tips: bool = True) -> None:
    table.setRowCount(len(rows))
    for r, values in enumerate(rows):
        for c, value in enumerate(values):
            cell = QTableWidgetItem(value)
            if tips and c == len(values) - 1 and len(value) > 40:
                cell.setToolTip(value)
            table.setItem(r, c, cell)


class DetailPane(QWidget):
    def __init__(self, worker: Worker, reader: StoreReader, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.worker = worker
        self.reader = reader
        self._generation = 0
        self.shown_id: int | None = None
        self._shown_row: Any = None

        self.title = QLabel()
        self.title.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        font = self.title.font()
        font.setBold(True)
        self.title.setFont(font)
        # One label for the whole block: its text changes in place (no widgets come and go).
        self.info = QLabel()
        self.info.setTextFormat(Qt.TextFormat.RichText)
        self.info.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.info.setWordWrap(True)
        self.info.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        self.info.setAccessibleName("Delivery details")
        self.info_pairs: list[tuple[str, str]] = []
        info_scroll = QScrollArea()
        info_scroll.setWidget(self.info)
        info_scroll.setWidgetResizable(True)
        info_scroll.setFrameShape(QFrame.Shape.NoFrame)
        info_scroll.setMinimumWidth(260)
        info_scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)

        self.fields = _table(["Field", "Value"])
        self.fields.setAccessibleName("Result fields")
        self.history = _table(["When", "What", "Detail"])
        self.history.setAccessibleName("History")
        self.history.horizontalHeader().setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        self.tabs = QTabWidget()
        self.tabs.addTab(self.fields, "Result fields")
        self.tabs.addTab(self.history, "History")
        # The HL7 message sent in a CSV row's place (INTERFACE §10): one segment a line.
        self.message = QPlainTextEdit()
        self.message.setReadOnly(True)
        self.message.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        self.message.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.message.setAccessibleName("Message sent")
        self.tabs.addTab(self.message, "Message sent")
        self.tabs.setTabVisible(2, False)
        self.tabs.setDocumentMode(True)

        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(info_scroll)
        split.addWidget(self.tabs)
        split.setStretchFactor(0, 2)
        split.setStretchFactor(1, 3)
        split.setSizes([410, 470])
        split.setChildrenCollapsible(False)
        self.split = split

        content = QWidget()
        cv = QVBoxLayout(content)
        cv.setContentsMargins(0, 0, 0, 0)
        cv.addWidget(self.title)
        cv.addWidget(split, 1)

        self.hint = QLabel("Select a result to see its fields and history.")
        self.hint.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.hint.setEnabled(False)
        self.stack = QStackedWidget()
        self.stack.addWidget(self.hint)
        self.stack.addWidget(content)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.stack)

    # -- what to show ------------------------------------------------------------------------

    def clear(self, hint: str = "Select a result to see its fields and history.") -> None:
        self._generation += 1
        self.shown_id = None
        self._shown_row = None
        self.hint.setText(hint)
        self.fields.setRowCount(0)
        self.history.setRowCount(0)
        self._show_message(None)  # patient data goes with the selection
        self.stack.setCurrentWidget(self.hint)

    def show_row(self, row: Any) -> None:
        if row == self._shown_row and self.stack.currentIndex() == 1:
            return  # the same row, unchanged: nothing to read again
        self._shown_row = row
        if isinstance(row, Item):
            self._load(row.id, None)
        elif isinstance(row, dict) and row.get("original_item_id"):
            self._load(int(row["original_item_id"]), row)
        elif isinstance(row, FileRecord):
            self._show_file(row)
        else:
            self.clear()

    def _load(self, item_id: int, duplicate: dict[str, Any] | None) -> None:
        self._generation += 1
        gen = self._generation
        reader = self.reader
        self.worker.read(lambda: (reader.item(item_id), reader.history(item_id), reader.wire(item_id)),
                         lambda res: self._show_item(gen, res[0], res[1], duplicate, res[2]))

    def _set_info(self, pairs: list[tuple[str, str]]) -> None:
        self.info_pairs = pairs
        rows = "".join(f"<tr><td style='padding-right:10px; white-space:nowrap'>{html.escape(k)}</td>"
                       f"<td>{html.escape(v)}</td></tr>" for k, v in pairs)
        self.info.setText(f"<table cellspacing='0' cellpadding='1'>{rows}</table>")

    def _show_item(self, gen: int, item: Item | None, history: list[HistoryEntry],
                   duplicate: dict[str, Any] | None, wire: str | None = None) -> None:
        if gen != self._generation:
            return
        if item is None:
            self.clear("This result is no longer in the outbox.")
            return
        self.shown_id = item.id
        where = f"{item.source_name}, line {item.line}" if item.source_name and item.line else (
            item.source_name or item.source)
        state = words.STATE_LABELS.get(item.state, item.state)
        if duplicate is not None:
            skipped = duplicate.get("source_name") or duplicate.get("source")
            self.title.setText(f"Duplicate from {skipped}: same content as result #{item.id} ({state}), "
                               "which is shown here")
        else:
            self.title.setText(f"Result #{item.id} · {state} · {where}")
        info = [
            ("Tracking id", item.tracking_id or "—"),
            ("Status", words.reason(item.state, item.last_error, item.attempts, item.forced)
             + (f" (last answer HTTP {item.last_status})" if item.last_status else "")),
            ("Received", f"{words.stamp(item.created_at)} from {where}"),
            ("Attempts", str(item.attempts)),
        ]
        if item.state == "discarded":
            discards = [h for h in history if h.kind == "discard"]
            if discards:
                who, why = _person_action(discards[-1])
                info.append(("Discarded", f"{words.stamp(discards[-1].at)} {who}"))
                info.append(("Reason given", why or "none"))
        if item.receipt:
            info.append(("Receipt", item.receipt))
        if item.sent_at:
            info.append(("Delivered", words.stamp(item.sent_at)))
        info.append(("Client", item.client))
        info.append(("Content hash", item.content_hash[:16] + "…"))
        self._set_info(info)
        fields = fields_of(item)
        if not fields:
            fields = [("(content)", "removed after the retention period; the receipt and history are kept")]
        _fill(self.fields, fields)
        _fill(self.history, [(words.stamp(h.at), _what(h), _detail(h)) for h in history])
        self.tabs.setTabText(0, f"Result fields ({len(fields)})" if item.payload is not None else "Result fields")
        self.tabs.setTabText(1, f"History ({len(history)})")
        self._show_message(wire)
        for r, h in enumerate(history):
            cell = self.history.item(r, 0)
            if cell is not None:
                cell.setToolTip(iso(h.at))
        self.stack.setCurrentIndex(1)

    def _show_message(self, wire: str | None) -> None:
        self.message.setPlainText(readable_message(wire) if wire else "")
        self.tabs.setTabVisible(2, bool(wire))

    def _show_file(self, f: FileRecord) -> None:
        self._generation += 1
        self._show_message(None)
        self.shown_id = None
        self.title.setText(f"File {f.name} · {'accepted' if f.outcome == 'accepted' else 'rejected'}")
        info = [
            ("Received", words.stamp(f.created_at)),
            ("Read from", f.path or "—"),
            ("Results", f"{f.rows_accepted:,} accepted, {f.rows_duplicate:,} duplicate, "
                        f"{f.rows_rejected:,} rejected row(s), {f.blank_rows:,} blank"),
        ]
        if f.reason:
            info.append(("Reason", f.reason))
        if f.moved_to:
            info.append(("Moved to", f.moved_to))
        info.append(("File hash", f.file_hash[:16] + "…"))
        self._set_info(info)
        self.fields.setRowCount(0)
        self.history.setRowCount(0)
        self.tabs.setTabText(0, "Result fields")
        self.tabs.setTabText(1, "History")
        self.stack.setCurrentIndex(1)


def readable_message(text: str) -> str:
    """An HL7 message as a person reads it: one segment a line."""
    return "\n".join(s for s in text.replace("\r\n", "\r").replace("\n", "\r").split("\r") if s)


def _person_action(h: HistoryEntry) -> tuple[str, str]:
    """Who acted, in words, and the reason they gave ("" when none)."""
    actor, _, why = (h.detail or "")[3:].partition(": ")
    return ACTORS.get(actor, f"by {actor}"), why


def _what(h: HistoryEntry) -> str:
    if h.kind in ("retry", "resend") and (h.detail or "").startswith("by "):  # a person's action
        return "Put back in the queue" if h.kind == "retry" else "Sent again on purpose"
    if h.kind == "closed" and h.status:
        return f"Intake answered ({h.status})"
    base = HISTORY_WORDS.get(h.kind, h.kind.capitalize())
    return f"{base} ({h.status})" if h.status else base


def _detail(h: HistoryEntry) -> str:
    text = h.detail or ""
    if h.kind in PERSON_ACTIONS and text.startswith("by "):
        who, why = _person_action(h)
        return f"{who}: {why}" if why else who
    if h.kind == "received" and text.startswith("from "):  # "from listener: listener" says it twice
        source, _, where = text[5:].partition(": ")
        return f"from {source}" if where == source else f"from {where}"
    return text
