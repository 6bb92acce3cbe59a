"""The app-wide commands, made once and shared by the tray menu and the window's toolbar, so both
always say the same thing (Pause or Resume) and are enabled alike."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QObject
from PySide6.QtGui import QAction, QKeySequence

from relay.ui.session import Session


class AppActions(QObject):
    def __init__(self, session: Session, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.open_queue = QAction("Open queue", self)
        self.pause = QAction("Pause sending", self)
        self.pause.setToolTip("Stop sending for now; results keep arriving and wait in the queue")
        self.send_now = QAction("Send now", self)
        self.send_now.setToolTip("Try everything that waits for a retry at once (maintenance windows still hold)")
        self.open_folder = QAction("Open watched folder", self)
        self.settings = QAction("Settings…", self)
        self.settings.setShortcut(QKeySequence.StandardKey.Preferences)
        self.refresh = QAction("Refresh", self)
        self.refresh.setShortcut(QKeySequence(QKeySequence.StandardKey.Refresh))
        self.refresh.setToolTip("Read the queue again (F5)")
        self.quit = QAction("Quit", self)
        self.quit.setShortcut(QKeySequence.StandardKey.Quit)

        self.pause.triggered.connect(session.toggle_pause)
        self.send_now.triggered.connect(session.send_now)
        self.open_folder.triggered.connect(session.open_watched_folder)
        self.refresh.triggered.connect(session.request_refresh)
        session.statsChanged.connect(self.update_from)
        # Methods, not lambdas: Qt drops a method's connection when this object goes (a lambda
        # would outlive it and be called on deleted actions at teardown).
        session.started.connect(self._update_from_session)
        session.configChanged.connect(self._update_from_session)
        self.update_from({})

    def _update_from_session(self, *_: object) -> None:
        self.update_from(self.session.stats)

    def update_from(self, stats: dict[str, Any]) -> None:
        running = self.session.running
        paused = bool(stats.get("paused"))
        self.pause.setText("Resume sending" if paused else "Pause sending")
        self.pause.setToolTip("Start sending again" if paused else
                              "Stop sending for now; results keep arriving and wait in the queue")
        self.pause.setEnabled(running)
        self.send_now.setEnabled(running and not paused and bool(self.session.config.intake.url))
        self.open_folder.setEnabled(bool(self.session.config.watches))
