"""Garbage collection on the GUI thread only.

Python's cyclic collector runs on whichever thread happens to allocate when a threshold is passed.
When that is one of the worker threads (a large read of the store allocates a lot) and a reference
cycle holds a Qt object, the object is destroyed off the GUI thread, and Qt crashes the process.
So, as pyqtgraph does, automatic collection is switched off while the app runs and a GUI-thread
timer collects instead: cheaply (only when the counts say a generation is due) and often enough
that memory stays where the automatic collector would keep it.
"""

from __future__ import annotations

import gc
import logging

from PySide6.QtCore import QObject, QTimer

log = logging.getLogger("relay.ui")

INTERVAL_MS = 1000


class GuiThreadCollector(QObject):
    """Install once on the GUI thread; ``close()`` gives collection back to Python."""

    def __init__(self, interval_ms: int = INTERVAL_MS, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._was_enabled = gc.isenabled()
        self.threshold = gc.get_threshold()
        gc.disable()
        self.collections = 0
        self.timer = QTimer(self)
        self.timer.setInterval(interval_ms)
        self.timer.timeout.connect(self.check)
        self.timer.start()

    def check(self) -> None:
        """Collect the generations whose counts passed their threshold, youngest first (what the
        automatic collector would have done, only here and now)."""
        counts = gc.get_count()
        generation = -1
        for gen in range(3):
            if counts[gen] > self.threshold[gen]:
                generation = gen
        if generation >= 0:
            gc.collect(generation)
            self.collections += 1

    def close(self) -> None:
        self.timer.stop()
        gc.collect()
        if self._was_enabled:
            gc.enable()


_installed: GuiThreadCollector | None = None


def install() -> GuiThreadCollector:
    """The process's collector (made once; call on the GUI thread after QApplication exists)."""
    global _installed
    if _installed is None:
        _installed = GuiThreadCollector()
    return _installed
