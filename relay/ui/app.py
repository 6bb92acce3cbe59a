"""`relay gui`: the agent, the tray icon and the queue window in one process.

``main(config)`` runs the app until Quit; ``main(config, screenshot="x.png")`` renders the window
with the current data to a PNG and exits (works offscreen, without a tray). The keyword-only
arguments are the seams tests use: the agent factory (a fake agent over a real outbox), whether
a system tray exists, the tray icon class, and the object that asks a person questions.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import QCoreApplication, QEventLoop, QObject, QTimer
from PySide6.QtWidgets import QApplication

from relay.clock import Clock
from relay.agent import pause_recorded, undo_pause_made_by_run
from relay.config import Config
from relay.ui import collector
from relay.ui.actions import AppActions
from relay.ui.display_check import xcb_problem
from relay.ui.prompts import Prompts
from relay.ui.session import AgentFactory, Session, default_agent_factory
from relay.ui.single import InstanceServer, ask_running
from relay.ui.stop_signals import StopOnSignals
from relay.ui.tray import Tray, TrayFactory, system_tray_available
from relay.ui.window import MainWindow

log = logging.getLogger("relay.ui")

SCREENSHOT_SIZE = (1100, 650)
SCREENSHOT_TIMEOUT_S = 120.0
# The agent starts once the window shows the queue (or after this long): at launch the window's
# first reads come first, and the agent's start-up (imports, the outbox's integrity check) after.
AGENT_START_DELAY_MS = 1000


class RelayApp(QObject):
    """Everything one running app is made of, wired together."""

    def __init__(self, config: Config, *, agent_factory: AgentFactory = default_agent_factory,
                 tray_available: bool = False, tray_factory: TrayFactory | None = None,
                 prompts: Prompts | None = None, clock: Clock | None = None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.prompts = prompts or Prompts()
        self.session = Session(config, agent_factory=agent_factory, clock=clock, parent=self)
        self.actions = AppActions(self.session, self)
        self.window = MainWindow(self.session, self.actions, self.prompts, hide_on_close=tray_available)
        self.tray = Tray(self.session, self.actions, available=tray_available, factory=tray_factory,
                         on_notice_without_tray=self.window.show_notice, on_open=self.window.bring_forward,
                         on_files=lambda: self.window.panel.show_view("files"), parent=self)
        self.server: InstanceServer | None = None
        self.settings: Any = None  # the open SettingsDialog, if any
        self.exit_code = 0
        self.start_error: str | None = None
        self._agent_starting = False
        self.actions.open_queue.triggered.connect(self.window.bring_forward)
        self.actions.settings.triggered.connect(self.open_settings)
        self.actions.quit.triggered.connect(self.quit)
        self.session.startFailed.connect(self._start_failed)

    def start(self, *, show_window: bool = True, single_instance: bool = True, restore_layout: bool = True) -> None:
        if single_instance:
            self.server = InstanceServer(self.session.config.store.path, self)
            self.server.showRequested.connect(self.window.bring_forward)
            self.server.listen()
        if restore_layout:
            self.window.restore_layout()
        if show_window or not self.tray.available:
            self.window.show()
        self.session.request_refresh()
        self.window.populated.connect(self._start_agent)
        QTimer.singleShot(AGENT_START_DELAY_MS, self._start_agent)

    def _start_agent(self) -> None:
        if not self._agent_starting:
            self._agent_starting = True
            self.session.start()

    def open_settings(self) -> Any:
        from relay.ui.settings import SettingsDialog  # imported when needed: keeps the launch quick

        if self.settings is not None and self.settings.isVisible():
            self.settings.raise_()
            self.settings.activateWindow()
            return self.settings
        self.window.bring_forward()
        dialog = SettingsDialog(self.session, self.prompts, self.window)
        dialog.saved.connect(self.session.apply_config)
        dialog.finished.connect(lambda _: setattr(self, "settings", None))
        dialog.open()
        self.settings = dialog
        return dialog

    def _start_failed(self, text: str) -> None:
        self.start_error = text
        self.exit_code = 1

    def quit(self) -> None:
        QCoreApplication.exit(self.exit_code)

    def close(self) -> None:
        """Stop the agent and every thread; safe to call more than once."""
        if self.window.isVisible():
            self.window.save_layout()
        self.tray.close()
        if self.server is not None:
            self.server.close()
            self.server = None
        self.session.shutdown()
        self.window.hide()


def _application() -> QApplication:
    app = QApplication.instance()
    if app is None:
        app = QApplication(sys.argv[:1])
    assert isinstance(app, QApplication)
    app.setApplicationName("relay")
    app.setOrganizationName("relay")
    collector.install()  # Qt objects are freed on this thread only
    return app


def wait_until(condition: Callable[[], bool], timeout_s: float) -> bool:
    """Run the event loop until ``condition()`` holds or the time is up."""
    if condition():
        return True
    loop = QEventLoop()
    deadline = time.monotonic() + timeout_s
    timer = QTimer()
    timer.setInterval(10)

    def check() -> None:
        if condition() or time.monotonic() >= deadline:
            loop.quit()

    timer.timeout.connect(check)
    timer.start()
    loop.exec()
    timer.stop()
    return condition()


def main(config: Config, screenshot: str | None = None, *, agent_factory: AgentFactory = default_agent_factory,
         tray_available: bool | None = None, tray_factory: TrayFactory | None = None,
         prompts: Prompts | None = None, view: str | None = None, hidden: bool = False) -> int:
    """Run the app; returns the process exit code. ``view`` opens that view first (pending,
    failed, dead, discarded, sent, duplicates, files); ``hidden`` starts in the tray only (at login), when
    there is a tray."""
    started = time.perf_counter()
    problem = xcb_problem() if QApplication.instance() is None else None
    if problem is not None:  # Qt would abort the process with its own words
        print(f"relay: {problem}", file=sys.stderr)
        return 2
    qapp = _application()
    if screenshot is not None:
        return _screenshot(config, Path(screenshot), agent_factory, prompts, view, started)

    if ask_running(config.store.path):
        log.info("relay is already running on %s: its window was brought forward", config.store.path)
        return 0
    available = system_tray_available() if tray_available is None else tray_available
    qapp.setQuitOnLastWindowClosed(not available)
    app = RelayApp(config, agent_factory=agent_factory, tray_available=available, tray_factory=tray_factory,
                   prompts=prompts)
    if view:
        app.window.panel.show_view(view)

    def start_failed(text: str) -> None:
        app.window.hide()
        app.prompts.error(None, "relay cannot start", text)
        QCoreApplication.exit(1)

    app.session.startFailed.connect(start_failed)
    app.window.populated.connect(lambda: log.info("window populated in %.2f s", time.perf_counter() - started))
    # Ctrl-C in the terminal and SIGTERM stop the app as Quit does; queued, so that a signal that
    # came before the event loop runs still ends it.
    stopper = StopOnSignals(lambda _sig: QTimer.singleShot(0, lambda: QCoreApplication.exit(0)))
    stopper.install()
    app.start(show_window=not hidden)
    try:
        code = qapp.exec()
    finally:
        app.close()
        stopper.uninstall()
    return code or app.exit_code


def _screenshot(config: Config, path: Path, agent_factory: AgentFactory, prompts: Prompts | None,
                view: str | None, started: float) -> int:
    app = RelayApp(config, agent_factory=agent_factory, tray_available=False, prompts=prompts)
    pause_before = pause_recorded(config.store.path)
    try:
        window = app.window
        window.resize(*SCREENSHOT_SIZE)
        if view:
            window.panel.show_view(view)
        populated_at: list[float] = []

        def populated() -> None:
            populated_at.append(time.perf_counter())
            log.info("window populated in %.2f s", populated_at[0] - started)

        window.populated.connect(populated)
        app.start(single_instance=False, restore_layout=False)  # a picture of this moment, at a fixed size
        session = app.session

        def ready() -> bool:
            return app.start_error is not None or (
                session.running and bool(session.stats.get("running")) and window.is_populated)

        if not wait_until(ready, SCREENSHOT_TIMEOUT_S):
            print(f"relay: the window was not ready within {SCREENSHOT_TIMEOUT_S:g} s", file=sys.stderr)
            return 1
        if app.start_error is not None:
            print(f"relay: {app.start_error}", file=sys.stderr)
            return 1
        log.info("agent started and window up to date in %.2f s", time.perf_counter() - started)
        # A row selected shows what the detail pane looks like (fields and history).
        panel = window.panel
        if panel.model.rowCount():
            panel.table.selectRow(0)
            wait_until(lambda: panel.detail.stack.currentIndex() == 1, 10.0)
        # (Not waiting for the worker to be idle: while the agent sends, refreshes keep coming.)
        wait_until(lambda: not panel.model.busy, 10.0)
        QApplication.processEvents()
        path.parent.mkdir(parents=True, exist_ok=True)
        if not window.grab().save(str(path), "PNG"):
            print(f"relay: cannot write {path}", file=sys.stderr)
            return 1
        print(f"screenshot written to {path}")
        return 0
    finally:
        app.close()
        undo_pause_made_by_run(config.store.path, pause_before)
