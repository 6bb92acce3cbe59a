"""The queue: a list of views (Pending, Failed, Dead-letter, Discarded, Sent, Duplicates skipped,
Files), the search box, one lazily paged table per view, the actions for the selection, and the
detail pane."""

from __future__ import annotations

import datetime
from functools import partial
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import QItemSelection, QModelIndex, Qt, QTimer, Signal
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QSplitter,
    QStackedWidget,
    QTableView,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from relay.store.models import WAITING_FOR_A_PERSON, Item
from relay.ui.detail import DetailPane
from relay.ui.export import export_items
from relay.ui.icons import state_dot
from relay.ui.models import DUPLICATE_COLUMNS, FILE_COLUMNS, ITEM_COLUMNS, PagedModel
from relay.ui.prompts import Prompts
from relay.ui.reader import DuplicateSource, FileSource, ItemSource, Source
from relay.ui.session import Session
from relay.ui.views import VIEW_DOTS, VIEWS, WIDTHS, ViewSpec, fit_columns, view_total

SEARCH_DELAY_MS = 350
RETRY_TEXTS = {"dead": "&Requeue selected", "discarded": "&Retry selected…"}  # "…": it asks first


class QueuePanel(QWidget):
    viewChanged = Signal(str)

    def __init__(self, session: Session, prompts: Prompts, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.prompts = prompts
        self.models: dict[str, PagedModel] = {}
        self.tables: dict[str, QTableView] = {}
        self._searched: dict[str, str] = {}  # the search each view's model was last given
        self._search_totals: dict[str, int | None] = {}
        self.current = VIEWS[0]

        self.views = QTreeWidget()
        self.views.setAccessibleName("Views")
        self.views.setColumnCount(2)
        self.views.setHeaderHidden(True)
        self.views.setRootIsDecorated(False)
        self.views.setUniformRowHeights(True)
        self.views.header().setStretchLastSection(False)
        self.views.header().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.views.header().setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        for n, spec in enumerate(VIEWS, start=1):
            it = QTreeWidgetItem([spec.title, ""])
            it.setToolTip(0, f"{spec.title} (Ctrl+{n})")
            it.setTextAlignment(1, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            it.setData(0, Qt.ItemDataRole.UserRole, spec.key)
            it.setIcon(0, state_dot(VIEW_DOTS[spec.key]))
            self.views.addTopLevelItem(it)
        self.views.setMinimumWidth(205)
        self.views.setMaximumWidth(280)
        self.views.currentItemChanged.connect(self._view_selected)

        self.search = QLineEdit()
        self.search.setPlaceholderText("Search by tracking id or file name (Ctrl+F)")
        self.search.setClearButtonEnabled(True)
        self.search.setAccessibleName("Search")
        self._search_timer = QTimer(self)
        self._search_timer.setSingleShot(True)
        self._search_timer.setInterval(SEARCH_DELAY_MS)
        self._search_timer.timeout.connect(self.apply_search)
        self.search.textChanged.connect(lambda _: self._search_timer.start())
        self.search.returnPressed.connect(self.apply_search)
        self.count = QLabel("")
        self.count.setMinimumWidth(150)
        self.count.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)

        self.btn_retry = QPushButton("&Retry selected")
        self.btn_retry.setToolTip("Put the selected results back in the queue (Ctrl+R)")
        self.btn_retry_all = QPushButton("Retry &all failed")
        self.btn_requeue_dead = QPushButton("Re&queue all dead")
        self.btn_discard = QPushButton("&Discard selected…")
        self.btn_discard.setToolTip("Set the selected results aside: they will not be sent, and stay in Discarded "
                                    "where they can be retried")
        self.btn_resend = QPushButton("&Force resend…")
        self.btn_resend.setToolTip("Send the selected delivered results again, on purpose")
        self.btn_export = QPushButton("&Export selected…")
        self.btn_export.setToolTip("Save the selected results to a CSV file (Ctrl+E)")
        self.btn_retry.clicked.connect(self.retry_selected)
        self.btn_retry_all.clicked.connect(lambda: self.session.retry(state="failed"))
        self.btn_requeue_dead.clicked.connect(lambda: self.session.retry(state="dead"))
        self.btn_discard.clicked.connect(self.discard_selected)
        self.btn_resend.clicked.connect(self.resend_selected)
        self.btn_export.clicked.connect(self.export_selected)
        self.buttons = (self.btn_retry, self.btn_retry_all, self.btn_requeue_dead, self.btn_discard, self.btn_resend,
                        self.btn_export)

        top = QHBoxLayout()
        top.setContentsMargins(0, 0, 0, 0)
        top.addWidget(self.search, 1)
        top.addWidget(self.count)
        bar = QHBoxLayout()
        bar.setContentsMargins(0, 0, 0, 0)
        for b in self.buttons:
            bar.addWidget(b)
        bar.addStretch(1)

        self.stack = QStackedWidget()
        self.detail = DetailPane(session.worker, session.reader)
        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(self.stack)
        split.addWidget(self.detail)
        split.setStretchFactor(0, 3)
        split.setStretchFactor(1, 2)
        split.setSizes([300, 200])
        split.setChildrenCollapsible(False)
        self.split = split
        self.outer: QSplitter

        right = QWidget()
        rv = QVBoxLayout(right)
        rv.setContentsMargins(0, 0, 0, 0)
        rv.addLayout(top)
        rv.addLayout(bar)
        rv.addWidget(split, 1)
        outer = QSplitter(Qt.Orientation.Horizontal)
        outer.addWidget(self.views)
        outer.addWidget(right)
        outer.setStretchFactor(1, 1)
        outer.setSizes([205, 880])
        self.outer = outer
        outer.setChildrenCollapsible(False)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 0, 8, 0)
        layout.addWidget(outer)

        self._shortcut(QKeySequence.StandardKey.Find, self.focus_search)
        self._shortcut(QKeySequence("Ctrl+R"), self.retry_selected)
        self._shortcut(QKeySequence("Ctrl+E"), self.export_selected)
        for n, spec in enumerate(VIEWS, start=1):
            self._shortcut(QKeySequence(f"Ctrl+{n}"), partial(self.show_view, spec.key))
        esc = QShortcut(QKeySequence(Qt.Key.Key_Escape), self.search)
        esc.setContext(Qt.ShortcutContext.WidgetShortcut)
        esc.activated.connect(self.search.clear)

        session.statsChanged.connect(self._stats_changed)
        session.worker.busyChanged.connect(self._on_busy_changed)  # a method: Qt drops it with the panel
        session.started.connect(self._update_buttons)
        session.started.connect(self._reload_failed)
        session.configChanged.connect(self._config_changed)
        self.views.setCurrentItem(self._view_item(0))

    def splitters(self) -> dict[str, QSplitter]:
        return {"views": self.outer, "detail": self.split, "detail-info": self.detail.split}

    def _shortcut(self, keys: QKeySequence | QKeySequence.StandardKey, fn: Callable[[], Any]) -> None:
        sc = QShortcut(keys, self)
        sc.setContext(Qt.ShortcutContext.WindowShortcut)
        sc.activated.connect(fn)

    # -- views ---------------------------------------------------------------------------------

    def spec(self, key: str) -> ViewSpec:
        return next(s for s in VIEWS if s.key == key)

    def _view_item(self, i: int) -> QTreeWidgetItem:
        it = self.views.topLevelItem(i)
        assert it is not None, f"view {i} is in the list from the start"
        return it

    def show_view(self, key: str) -> None:
        for i in range(self.views.topLevelItemCount()):
            it = self._view_item(i)
            if it.data(0, Qt.ItemDataRole.UserRole) == key:
                self.views.setCurrentItem(it)
                return

    def _view_selected(self, item: QTreeWidgetItem | None, _previous: QTreeWidgetItem | None = None) -> None:
        if item is None:
            return
        spec = self.spec(item.data(0, Qt.ItemDataRole.UserRole))
        self.current = spec
        table = self._table(spec)
        self.stack.setCurrentWidget(table)
        self.search.setEnabled(spec.kind != "duplicates")
        self.search.setPlaceholderText("Duplicates cannot be searched" if spec.kind == "duplicates" else
                                       "Search by tracking id or file name (Ctrl+F)")
        if self._searched.get(spec.key) != self._search_text() and spec.kind != "duplicates":
            self._load(spec)
        elif self.models[spec.key].loaded_once:
            self.models[spec.key].refresh()
        self._selection_changed()
        self._update_count()
        self._files_seen()
        self.viewChanged.emit(spec.key)

    def _source(self, spec: ViewSpec, search: str | None) -> Source:
        reader = self.session.reader
        if spec.kind == "items":
            return ItemSource(reader, spec.states, search)
        if spec.kind == "duplicates":
            return DuplicateSource(reader)
        return FileSource(reader, search, self.session.config.watches)

    def _table(self, spec: ViewSpec) -> QTableView:
        if spec.key in self.tables:
            return self.tables[spec.key]
        columns = {"items": ITEM_COLUMNS, "duplicates": DUPLICATE_COLUMNS, "files": FILE_COLUMNS}[spec.kind]
        model = PagedModel(self.session.worker, columns, self.session.clock.now, self)
        table = QTableView()
        table.setAccessibleName(f"{spec.title} results")
        table.setModel(model)
        table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        table.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        table.setAlternatingRowColors(True)
        table.setWordWrap(False)
        table.setTextElideMode(Qt.TextElideMode.ElideRight)
        table.setSortingEnabled(False)
        table.setCornerButtonEnabled(False)
        table.verticalHeader().setVisible(False)
        table.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        table.verticalHeader().setDefaultSectionSize(table.fontMetrics().height() + 8)
        table.horizontalHeader().setHighlightSections(False)
        table.horizontalHeader().setStretchLastSection(True)
        for i, col in enumerate(columns):
            table.setColumnWidth(i, dict(spec.widths).get(col.key, WIDTHS.get(col.key, 120)))
            table.setColumnHidden(i, col.key in spec.hidden)
        table.selectionModel().selectionChanged.connect(self._selection_changed_slot)
        model.pageLoaded.connect(self._update_count)
        model.pageLoaded.connect(self._selection_changed)
        model.loadFailed.connect(self._load_failed)
        model.pageLoaded.connect(lambda t=table, m=model, v=spec: fit_columns(t, m, v.last_min,
                                                                                 self.session.clock.now()))
        self.models[spec.key] = model
        self.tables[spec.key] = table
        self.stack.addWidget(table)
        self._load(spec)
        return table

    def _load(self, spec: ViewSpec) -> None:
        search = self._search_text() if spec.kind != "duplicates" else ""
        self._searched[spec.key] = search
        self._search_totals.pop(spec.key, None)
        self.models[spec.key].set_source(self._source(spec, search or None))

    @property
    def model(self) -> PagedModel:
        self._table(self.current)
        return self.models[self.current.key]

    @property
    def table(self) -> QTableView:
        return self._table(self.current)

    def reload(self) -> None:
        """F5: the current view from its first page."""
        self._load(self.current)

    def _load_failed(self, text: str) -> None:
        """Before the agent has created the outbox there is nothing to read: the views are read
        again once it has started. Afterwards a failed read is news for the status bar."""
        if self.session.running:
            self.session.message.emit(f"Could not read the queue: {text}")
        self._update_count()

    def _reload_failed(self) -> None:
        for key, model in self.models.items():
            if model.failed:
                self._load(self.spec(key))

    def _config_changed(self, _config: object) -> None:
        self.detail.reader = self.session.reader
        for key in list(self.models):
            self._load(self.spec(key))

    # -- search ----------------------------------------------------------------------------------

    def _search_text(self) -> str:
        return self.search.text().strip()

    def focus_search(self) -> None:
        self.search.setFocus(Qt.FocusReason.ShortcutFocusReason)
        self.search.selectAll()

    def apply_search(self) -> None:
        self._search_timer.stop()
        if self.current.kind != "duplicates" and self._searched.get(self.current.key) != self._search_text():
            self._load(self.current)
            self._update_count()

    # -- counts ----------------------------------------------------------------------------------

    def _stats_changed(self, stats: dict[str, Any]) -> None:
        for i, spec in enumerate(VIEWS):
            it = self._view_item(i)
            total = view_total(spec, stats)
            it.setText(1, f"{total:,}" if total is not None else "")
            if spec.dot:
                it.setIcon(0, state_dot(spec.dot if total else "none"))
        self.model.refresh()  # the other views catch up when they are shown
        self._update_count()
        self._update_buttons()
        self._files_seen()

    def _files_seen(self) -> None:
        """The Files view on screen counts as a person having seen its rejections."""
        if self.current.kind == "files" and self.isVisible() and self.session.stats.get("files_attention"):
            self.session.mark_files_seen()

    def showEvent(self, event: Any) -> None:  # noqa: N802 - Qt's name
        super().showEvent(event)
        self._files_seen()

    def _update_count(self) -> None:
        model = self.model
        loaded = model.rowCount()
        if model.failed and not model.loaded_once:
            self.count.setText("" if not self.session.running else "Could not read the queue")
            return
        if model.busy and not model.loaded_once:
            self.count.setText("Searching…" if self._search_text() else "Loading…")
            return
        if model.stale:
            self.count.setText(f"{loaded:,} shown; press F5 for the latest")
            return
        search = self._searched.get(self.current.key)
        total = view_total(self.current, self.session.stats) if not search else self._search_total()
        if total is None:
            self.count.setText(f"{loaded:,}{'+' if model.has_more else ''} found" if search else f"{loaded:,}")
        elif loaded < total:
            self.count.setText(f"{loaded:,} of {total:,} shown" + (" (matching)" if search else ""))
        else:
            noun = ("file", "files") if self.current.kind == "files" else ("result", "results")
            self.count.setText(f"{total:,} " + ("found" if search else (noun[0] if total == 1 else noun[1])))

    def _search_total(self) -> int | None:
        key = self.current.key
        model = self.models[key]
        if not model.has_more:
            return model.rowCount()
        if key in self._search_totals:
            return self._search_totals[key]
        self._search_totals[key] = None
        source = model.source
        if source is not None and self.current.kind == "items":
            search = self._searched.get(key)

            def done(n: int | None, key: str = key, search: str | None = search) -> None:
                if self._searched.get(key) == search:
                    self._search_totals[key] = n
                    self._update_count()

            self.session.worker.read(source.total, done)
        return None

    # -- selection and actions ----------------------------------------------------------------------

    def selected_rows(self) -> list[Any]:
        sel = self.table.selectionModel()
        model = self.model
        return [model.row(i.row()) for i in sorted(sel.selectedRows(), key=QModelIndex.row)
                if i.row() < model.rowCount()]

    def selected_items(self, states: tuple[str, ...] | None = None) -> list[Item]:
        return [r for r in self.selected_rows() if isinstance(r, Item) and (states is None or r.state in states)]

    def _selection_changed_slot(self, _a: QItemSelection, _b: QItemSelection) -> None:
        self._selection_changed()

    def _selection_changed(self) -> None:
        rows = self.selected_rows()
        if len(rows) == 1:
            self.detail.show_row(rows[0])
        elif rows:
            self.detail.clear(f"{len(rows):,} rows selected.")
        else:
            self.detail.clear("Select a result to see its fields and history."
                              if self.current.kind != "files" else "Select a file to see what became of it.")
        self._update_buttons()

    def _on_busy_changed(self, _label: str) -> None:
        self._update_buttons()

    def _update_buttons(self) -> None:
        kind, key = self.current.kind, self.current.key
        running = self.session.running
        stats = self.session.stats
        self.btn_retry.setText(RETRY_TEXTS.get(key, "&Retry selected"))
        self.btn_retry.setToolTip("Send the selected discarded results after all: back in the queue (Ctrl+R)"
                                  if key == "discarded" else "Put the selected results back in the queue (Ctrl+R)")
        self.btn_retry.setVisible(key in WAITING_FOR_A_PERSON)
        self.btn_retry_all.setVisible(key == "failed")
        self.btn_requeue_dead.setVisible(key == "dead")
        self.btn_discard.setVisible(key in ("failed", "dead"))
        self.btn_resend.setVisible(key == "sent")
        self.btn_export.setVisible(kind == "items")
        self.btn_retry.setEnabled(running and bool(self._retryable()))
        self.btn_retry_all.setEnabled(running and bool(stats.get("failed")))
        self.btn_requeue_dead.setEnabled(running and bool(stats.get("dead")))
        self.btn_discard.setEnabled(running and bool(self.selected_items(("failed", "dead"))))
        self.btn_resend.setEnabled(running and bool(self.selected_items(("sent",))))
        self.btn_export.setEnabled(bool(self.selected_items()))

    def _retryable(self) -> list[Item]:
        """What Retry (Ctrl+R) acts on: the selected results of the view's own state."""
        return self.selected_items(self.current.states) if self.current.key in WAITING_FOR_A_PERSON else []

    def retry_selected(self) -> None:
        items = self._retryable()
        if not items or not self.session.running:
            return
        if self.current.key == "discarded":
            n = len(items)
            they, them = ("it", "it") if n == 1 else ("they", "them")
            text = (f"A person decided {'this result was' if n == 1 else f'these {n:,} results were'} not to be "
                    f"sent. If you continue, {they} go{'es' if n == 1 else ''} back in the queue and relay sends "
                    f"{them} to the intake.\n\nSend {them} after all?")
            if not self.prompts.confirm(self, "Send discarded results?", text, "Retry"):
                return
        self.session.retry([i.id for i in items])

    def discard_selected(self) -> None:
        items = self.selected_items(("failed", "dead"))
        if not items or not self.session.running:
            return
        n = len(items)
        title = "Discard this result?" if n == 1 else f"Discard {n:,} results?"
        text = (f"{'This result' if n == 1 else f'These {n:,} results'} will not be sent to the intake.\n\n"
                f"Nothing is deleted: {'it stays' if n == 1 else 'they stay'} in the Discarded list with "
                f"{'its' if n == 1 else 'their'} content and history, and can be retried from there at any time.")
        if any(i.state == "dead" and i.batch_id is not None for i in items):
            # Still bound to a batch that was sent without an answer: the store sets that batch aside whole.
            who, them = ("It was", "it") if n == 1 else ("Some of them were", "them")
            text += (f"\n\n{who} sent before without an answer from the intake: the other results sent in the "
                     f"same batch are discarded with {them}, and come back with {them} on a retry.")
        reason = self.prompts.confirm_with_reason(
            self, title, text, "&Discard", "&Reason (optional, kept in the history):",
            "for example: a test record, or the lab sends a corrected result")
        if reason is not None:
            self.session.discard([i.id for i in items], reason or None)

    def resend_selected(self) -> None:
        items = self.selected_items(("sent",))
        if not items or not self.session.running:
            return
        n = len(items)
        text = (f"The intake already acknowledged {'this result' if n == 1 else f'these {n:,} results'}. "
                f"If you continue, the intake will receive {'it' if n == 1 else 'them'} again and may count "
                f"{'it' if n == 1 else 'them'} twice.\n\nSend {'it' if n == 1 else 'them'} again?")
        if self.prompts.confirm(self, "Send again?", text, "Send again"):
            self.session.resend([i.id for i in items])

    def export_selected(self) -> None:
        items = self.selected_items()
        if not items:
            return
        stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M")
        suggested = Path.home() / f"relay-{self.current.key}-{stamp}.csv"
        path = self.prompts.save_path(self, "Export selected results", suggested)
        if path is None:
            return
        if path.suffix == "":
            path = path.with_suffix(".csv")
        ids = [i.id for i in items]
        reader = self.session.reader
        self.session.run_action(f"Exporting {len(items):,} result(s)",
                                lambda: export_items(reader.items_by_id(ids), path),
                                lambda n: self.session.message.emit(f"Exported {n:,} result(s) to {path}."))
