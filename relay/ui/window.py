"""The main window: toolbar, summary line, the queue, and a status bar that shows what runs."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QSettings, Qt, Signal
from PySide6.QtGui import QCloseEvent, QFontMetrics, QGuiApplication, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QFrame,
    QLabel,
    QMainWindow,
    QProgressBar,
    QToolBar,
    QVBoxLayout,
    QWidget,
)

from relay.paths import app_paths
from relay.ui.actions import AppActions
from relay.ui.icons import look_icon
from relay.ui.incidents import Notice
from relay.ui.prompts import Prompts
from relay.ui.queue_panel import QueuePanel
from relay.ui.session import Session
from relay.ui.status_text import look
from relay.ui.summary import SummaryBar

if TYPE_CHECKING:
    from relay.config import Config

log = logging.getLogger("relay.ui")

MESSAGE_MS = 12_000
OUTBOX_LABEL_WIDTH = 320
DEFAULT_SIZE = (1100, 650)


def default_size() -> tuple[int, int]:
    """1100x650, or less on a smaller screen (a 1024x768 laptop): the whole window on screen."""
    screen = QGuiApplication.primaryScreen()
    if screen is None:
        return DEFAULT_SIZE
    room = screen.availableGeometry()
    return min(DEFAULT_SIZE[0], room.width() - 24), min(DEFAULT_SIZE[1], room.height() - 48)


class MainWindow(QMainWindow):
    populated = Signal()  # the status and the current view's first page are on screen

    def __init__(self, session: Session, actions: AppActions, prompts: Prompts, *, hide_on_close: bool = False,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.app_actions = actions  # not "actions": that would hide QWidget.actions()
        self.prompts = prompts
        self.hide_on_close = hide_on_close  # with a tray icon, closing the window keeps relay running
        self.setWindowTitle("relay: results queue")
        self.setWindowIcon(look_icon("delivered"))
        self.resize(*default_size())

        tb = QToolBar("Sending")
        tb.setObjectName("main-toolbar")
        tb.setMovable(False)
        tb.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        for action in (actions.pause, actions.send_now, None, actions.refresh, actions.open_folder, None,
                       actions.settings):
            if action is None:
                tb.addSeparator()
            else:
                tb.addAction(action)
        self.addToolBar(tb)
        self.toolbar = tb

        self.summary = SummaryBar()
        self.panel = QueuePanel(session, prompts)
        line = QFrame()
        line.setFrameShape(QFrame.Shape.HLine)
        line.setFrameShadow(QFrame.Shadow.Sunken)
        central = QWidget()
        v = QVBoxLayout(central)
        v.setContentsMargins(0, 0, 0, 4)
        v.setSpacing(6)
        v.addWidget(self.summary)
        v.addWidget(line)
        v.addWidget(self.panel, 1)
        self.setCentralWidget(central)

        self.busy = QProgressBar()
        self.busy.setRange(0, 0)
        self.busy.setMaximumWidth(120)
        self.busy.setMaximumHeight(14)
        self.busy.setTextVisible(False)
        self.busy.hide()
        self.busy_label = QLabel()
        self.sender_label = QLabel()
        self.outbox_label = QLabel()
        self._show_outbox(session.config.store.path)
        sb = self.statusBar()
        sb.addWidget(self.busy)
        sb.addWidget(self.busy_label)
        sb.addPermanentWidget(self.sender_label)
        sb.addPermanentWidget(self.outbox_label)

        self.addAction(actions.refresh)
        self.addAction(actions.settings)
        self.addAction(actions.quit)
        actions.refresh.triggered.connect(self.panel.reload)
        close = QShortcut(QKeySequence(QKeySequence.StandardKey.Close), self)
        close.activated.connect(self.close)
        self._tab_order()

        session.statsChanged.connect(self._stats_changed)
        session.message.connect(self.show_message)
        session.worker.busyChanged.connect(self._busy_changed)
        session.configChanged.connect(self._config_changed)  # a method: dropped with the window
        self.panel.model.pageLoaded.connect(self._check_populated)
        self._populated = False

    # -- layout kept between runs (in relay's state folder) -----------------------------------

    @staticmethod
    def _layout_store() -> QSettings:
        return QSettings(str(app_paths().state_dir / "window.ini"), QSettings.Format.IniFormat)

    def restore_layout(self) -> None:
        s = self._layout_store()
        for name, splitter in self.panel.splitters().items():
            state = s.value(f"splitters/{name}")
            if state is not None:
                splitter.restoreState(state)
        geometry = s.value("window/geometry")  # last: the window's size wins over the panes'
        if geometry is not None:
            self.restoreGeometry(geometry)

    def save_layout(self) -> None:
        s = self._layout_store()
        s.setValue("window/geometry", self.saveGeometry())
        for name, splitter in self.panel.splitters().items():
            s.setValue(f"splitters/{name}", splitter.saveState())
        s.sync()

    def _config_changed(self, config: Config) -> None:
        self._show_outbox(config.store.path)

    def _show_outbox(self, path: object) -> None:
        # A long path is shortened in the middle rather than widening the window; the tooltip has it all.
        text = QFontMetrics(self.outbox_label.font()).elidedText(f"Outbox: {path}", Qt.TextElideMode.ElideMiddle,
                                                                 OUTBOX_LABEL_WIDTH)
        self.outbox_label.setText(text)
        self.outbox_label.setToolTip(str(path))

    def _tab_order(self) -> None:
        p = self.panel
        chain = [p.views, p.search, p.stack, *p.buttons, p.detail.fields, p.detail.history]
        for a, b in zip(chain, chain[1:]):
            QWidget.setTabOrder(a, b)

    # -- updates --------------------------------------------------------------------------------

    def _stats_changed(self, stats: dict[str, Any]) -> None:
        self.summary.update_from(stats)
        sender = stats.get("sender") or {}
        state = {"idle": "idle", "sending": "sending", "waiting": "waiting", "paused": "paused"}.get(
            sender.get("state") or "", "")
        self.sender_label.setText(f"Sender: {state}" if state else ("Starting…" if not stats.get("running") else ""))
        self.setWindowIcon(look_icon(look(stats).kind))
        self._check_populated()

    def _check_populated(self) -> None:
        if not self._populated and self.session.stats and self.panel.model.loaded_once:
            self._populated = True
            self.populated.emit()

    @property
    def is_populated(self) -> bool:
        return self._populated

    def _busy_changed(self, label: str) -> None:
        self.busy.setVisible(bool(label))
        self.busy_label.setText(f"{label}…" if label else "")

    def show_message(self, text: str) -> None:
        self.statusBar().showMessage(text, MESSAGE_MS)

    def show_notice(self, notice: Notice) -> None:
        """Where there is no tray: the notice goes to the status bar."""
        self.show_message(f"{notice.title}: {notice.text.splitlines()[0]}")

    def bring_forward(self) -> None:
        if self.isMinimized():
            self.showNormal()
        self.show()
        self.raise_()
        self.activateWindow()

    def closeEvent(self, event: QCloseEvent) -> None:
        self.save_layout()
        if self.hide_on_close:
            event.ignore()
            self.hide()
        else:
            event.accept()
