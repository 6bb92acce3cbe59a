"""Cyclic garbage (and any Qt object in it) is freed on the GUI thread, never on a worker thread
that happens to allocate while the window reads a large page."""

from __future__ import annotations

import gc
import threading

from relay.ui.collector import install


class _Cycle:
    freed_on: list[str] = []

    def __init__(self) -> None:
        self.me = self

    def __del__(self) -> None:
        _Cycle.freed_on.append(threading.current_thread().name)


def test_garbage_made_anywhere_is_collected_on_the_gui_thread(qtbot):
    collector = install()
    assert not gc.isenabled()
    _Cycle.freed_on.clear()

    def make_garbage() -> None:  # a worker making cyclic garbage: past the collector's thresholds
        for _ in range(3000):
            _Cycle()

    worker = threading.Thread(target=make_garbage, name="relay-ui-read-test")
    worker.start()
    worker.join()
    assert _Cycle.freed_on == []
    qtbot.waitUntil(lambda: len(_Cycle.freed_on) == 3000, timeout=10_000)
    assert set(_Cycle.freed_on) == {threading.main_thread().name}
    assert collector.collections >= 1
