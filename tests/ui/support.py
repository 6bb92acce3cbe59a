"""Small helpers shared by the desktop app's tests."""

from __future__ import annotations

from PySide6.QtCore import QItemSelectionModel, QTimer

T0 = 1_767_621_600.0  # 2026-01-05T14:00:00Z, a Monday afternoon
ROWS = 30  # results per daily file in the test lab (more than a page of sent results in all)


def settle(qtbot, app) -> None:
    """Wait until every background job of the app has finished and its results are shown."""
    qtbot.waitUntil(lambda: app.session.quiet and not app.window.panel.model.busy, timeout=10_000)


def iso(ts: float) -> str:
    from relay.clock import iso as _iso

    value = _iso(ts)
    assert value is not None
    return value


def view_count(panel, key: str) -> str:
    """The count the views list shows beside the view ``key``."""
    from PySide6.QtCore import Qt

    for i in range(panel.views.topLevelItemCount()):
        it = panel.views.topLevelItem(i)
        if it.data(0, Qt.ItemDataRole.UserRole) == key:
            return it.text(1)
    raise AssertionError(f"no view {key!r}")


def show(qtbot, app, key):
    """Opens a view of the queue window and waits until its rows are loaded."""
    panel = app.window.panel
    panel.show_view(key)
    qtbot.waitUntil(lambda: panel.current.key == key and panel.model.loaded_once and not panel.model.busy)
    return panel


def select(panel, *rows):
    sm = panel.table.selectionModel()
    sm.clearSelection()
    for r in rows:
        sm.select(panel.model.index(r, 0), QItemSelectionModel.SelectionFlag.Select
                  | QItemSelectionModel.SelectionFlag.Rows)


def states(lab, ids):
    with lab.box() as box:
        return [box.get_item(i).state for i in ids]


def gui_thread_serves_events(qtbot) -> None:
    """Passes while the GUI thread keeps running its event loop (a 10 ms timer fires five times)."""
    ticks: list[int] = []
    timer = QTimer()
    timer.timeout.connect(lambda: ticks.append(1))
    timer.start(10)
    qtbot.waitUntil(lambda: len(ticks) >= 5, timeout=2000)
    timer.stop()
