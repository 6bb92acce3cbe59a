"""The tray icon: four looks (delivered, sending, waiting, needs attention), a tooltip with the
counts and the last delivery, the menu, and one notification per incident.

Where the system has no tray (``available`` False: always so offscreen and on bare X servers), no
icon is shown; the window is shown instead and notices go to its status bar.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, Protocol

from PySide6.QtCore import QObject
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QMenu, QSystemTrayIcon

from relay.ui import status_text as words
from relay.ui.actions import AppActions
from relay.ui.icons import look_icon
from relay.ui.incidents import CRITICAL, Notice
from relay.ui.session import Session

log = logging.getLogger("relay.ui")

NOTICE_MS = 15_000


class TrayIconLike(Protocol):
    """The part of QSystemTrayIcon the app uses (tests pass a recording fake)."""

    activated: Any

    def setIcon(self, icon: QIcon) -> None: ...
    def setToolTip(self, text: str) -> None: ...
    def setContextMenu(self, menu: QMenu) -> None: ...
    def show(self) -> None: ...
    def hide(self) -> None: ...
    def showMessage(self, title: str, text: str, icon: QIcon | QSystemTrayIcon.MessageIcon, msecs: int) -> None: ...


TrayFactory = Callable[[QObject], TrayIconLike]


def system_tray_available() -> bool:
    return QSystemTrayIcon.isSystemTrayAvailable()


class Tray(QObject):
    def __init__(self, session: Session, actions: AppActions, *, available: bool,
                 factory: TrayFactory | None = None, on_notice_without_tray: Callable[[Notice], None] | None = None,
                 on_open: Callable[[], None] | None = None, on_files: Callable[[], None] | None = None,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.available = available
        self.kind = ""
        self._fallback = on_notice_without_tray
        self._on_open = on_open
        self._on_files = on_files  # opens the Files view: a notice about files clicked
        self.last_notice: Notice | None = None
        self.menu = QMenu()
        self.menu.addAction(actions.open_queue)
        self.menu.addSeparator()
        self.menu.addAction(actions.pause)
        self.menu.addAction(actions.send_now)
        self.menu.addAction(actions.open_folder)
        self.menu.addSeparator()
        self.menu.addAction(actions.settings)
        self.menu.addSeparator()
        self.menu.addAction(actions.quit)
        self.icon: TrayIconLike | None = None
        if available:
            self.icon = (factory or QSystemTrayIcon)(self)
            self.icon.setContextMenu(self.menu)
            self.icon.activated.connect(self._activated)
            if hasattr(self.icon, "messageClicked"):
                self.icon.messageClicked.connect(self.message_clicked)
            self.show_look(words.look({"running": False}), "relay: starting")
            self.icon.show()
        session.statsChanged.connect(self.update_from)
        session.notice.connect(self.notify)

    def _activated(self, reason: QSystemTrayIcon.ActivationReason) -> None:
        if reason in (QSystemTrayIcon.ActivationReason.Trigger, QSystemTrayIcon.ActivationReason.DoubleClick):
            if self._on_open is not None:
                self._on_open()

    def message_clicked(self) -> None:
        if self._on_open is not None:
            self._on_open()
        if self.last_notice is not None and self.last_notice.key == "files" and self._on_files is not None:
            self._on_files()  # seeing the files there is what clears "needs attention"

    def show_look(self, lk: words.Look, tip: str) -> None:
        self.kind = lk.kind
        if self.icon is not None:
            self.icon.setIcon(look_icon(lk.kind))
            self.icon.setToolTip(tip)

    def update_from(self, stats: dict[str, Any]) -> None:
        self.show_look(words.look(stats), words.tooltip(stats))

    def notify(self, notice: Notice) -> None:
        self.last_notice = notice
        supports = getattr(self.icon, "supportsMessages", None)
        if self.icon is None or (supports is not None and not supports()):
            if self._fallback is not None:
                self._fallback(notice)
            return
        icon = (QSystemTrayIcon.MessageIcon.Critical if notice.level == CRITICAL
                else QSystemTrayIcon.MessageIcon.Warning)
        self.icon.showMessage(notice.title, notice.text, icon, NOTICE_MS)

    def close(self) -> None:
        if self.icon is not None:
            self.icon.hide()
