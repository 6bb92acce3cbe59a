"""SIGINT and SIGTERM stop the desktop app like Quit does.

Python runs a signal handler only when the interpreter gets control, and while Qt's event loop
waits in C++ it does not. So the handler's wake-up byte goes to a socket (``signal.set_wakeup_fd``)
that a QSocketNotifier watches: the notifier's slot is Python code, the interpreter runs the
handler, and the handler asks the event loop to end. The app then closes as it does on Quit (the
agent stops, the outbox is left consistent).
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
from collections.abc import Callable
from types import FrameType
from typing import Any

from PySide6.QtCore import QObject, QSocketNotifier

log = logging.getLogger("relay.ui")

SIGNALS = tuple(s for s in (signal.SIGINT, getattr(signal, "SIGTERM", None)) if s is not None)


class StopOnSignals(QObject):
    """While installed, SIGINT/SIGTERM call ``on_stop(signal number)`` on the GUI thread. A second
    signal while stopping ends the process at once (exit status 128 + the signal), as a second
    Ctrl-C does elsewhere: the outbox is safe at any instant, so this only cuts the stop short."""

    def __init__(self, on_stop: Callable[[int], None], parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.on_stop = on_stop
        self.received: list[int] = []
        self._previous: dict[int, Any] = {}
        self._old_fd: int | None = None
        self._reader: socket.socket | None = None
        self._writer: socket.socket | None = None
        self._notifier: QSocketNotifier | None = None

    def install(self) -> bool:
        """False (and nothing changed) when not on the main thread, where signals cannot be set."""
        if threading.current_thread() is not threading.main_thread():
            return False
        self._reader, self._writer = socket.socketpair()
        self._reader.setblocking(False)
        self._writer.setblocking(False)
        self._old_fd = signal.set_wakeup_fd(self._writer.fileno(), warn_on_full_buffer=False)
        self._notifier = QSocketNotifier(self._reader.fileno(), QSocketNotifier.Type.Read, self)
        self._notifier.activated.connect(self._drain)
        for sig in SIGNALS:
            self._previous[sig] = signal.signal(sig, self._handle)
        return True

    def _drain(self, *_: object) -> None:
        # Reading the byte is all: Python has run the handler before this slot's code.
        try:
            assert self._reader is not None
            while self._reader.recv(64):
                pass
        except (BlockingIOError, InterruptedError, OSError):
            pass

    def _handle(self, sig: int, frame: FrameType | None) -> None:
        if self.received:
            log.warning("stopping at once: %s received a second time", signal.Signals(sig).name)
            logging.shutdown()
            os._exit(128 + sig)
        self.received.append(sig)
        log.info("stopping: %s received", signal.Signals(sig).name)
        self.on_stop(sig)

    def uninstall(self) -> None:
        if self._notifier is None:
            return
        for sig, handler in self._previous.items():
            signal.signal(sig, handler if handler is not None else signal.SIG_DFL)
        self._previous.clear()
        signal.set_wakeup_fd(self._old_fd if self._old_fd is not None else -1)
        self._notifier.setEnabled(False)
        self._notifier.deleteLater()
        self._notifier = None
        for s in (self._reader, self._writer):
            if s is not None:
                s.close()
        self._reader = self._writer = None
