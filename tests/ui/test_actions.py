"""What a person can do from the window and the tray menu, checked in the outbox afterwards."""

from __future__ import annotations

import csv
import threading

import pytest
from PySide6.QtCore import QTimer

from relay.events import CountsChanged
from relay.status import PAUSED_BY
from tests.ui.support import gui_thread_serves_events, select, settle, show, states, view_count

pytestmark = pytest.mark.gui


def test_retry_selected_puts_failed_results_back_and_the_window_follows(qtbot, app, lab, agents):
    panel = show(qtbot, app, "failed")
    assert panel.btn_retry.isVisible() and not panel.btn_retry.isEnabled()  # nothing selected yet
    select(panel, 0)
    assert panel.btn_retry.isEnabled()
    item = panel.model.row(0)
    panel.btn_retry.click()
    qtbot.waitUntil(lambda: panel.model.rowCount() == lab.filled.failed - 1, timeout=5000)
    assert states(lab, [item.id]) == ["pending"]
    assert ("retry", ([item.id], None)) in agents[0].calls
    with lab.box() as box:
        assert any(h.kind == "retry" and h.detail == "by person" for h in box.history(item.id))
    settle(qtbot, app)
    assert view_count(panel, "failed") == str(lab.filled.failed - 1)
    assert "back in the queue" in app.window.statusBar().currentMessage()


def test_retry_all_failed_and_requeue_all_dead(qtbot, app, lab):
    panel = show(qtbot, app, "failed")
    assert panel.btn_retry_all.isEnabled()
    with lab.box() as box:
        failed = [i.id for i in box.list_items(state="failed", limit=100)]
        dead = [i.id for i in box.list_items(state="dead", limit=100)]
    panel.btn_retry_all.click()
    qtbot.waitUntil(lambda: panel.model.rowCount() == 0, timeout=5000)
    panel = show(qtbot, app, "dead")
    assert panel.btn_requeue_dead.isVisible() and panel.btn_retry.text() == "&Requeue selected"
    panel.btn_requeue_dead.click()
    qtbot.waitUntil(lambda: panel.model.rowCount() == 0, timeout=5000)
    assert set(states(lab, failed + dead)) == {"pending"}
    settle(qtbot, app)
    assert not panel.btn_requeue_dead.isEnabled()
    assert app.tray.kind == "sending"  # nothing needs a person any more


def test_force_resend_asks_first_and_says_the_intake_will_receive_it_again(qtbot, app, lab, prompts):
    panel = show(qtbot, app, "sent")
    select(panel, 0, 1)
    items = [panel.model.row(0), panel.model.row(1)]
    prompts.confirm_answer = False
    panel.btn_resend.click()
    (title, text), = prompts.asked
    assert title == "Send again?" and "the intake will receive them again" in text
    settle(qtbot, app)
    assert states(lab, [i.id for i in items]) == ["sent", "sent"]  # declined: nothing changed
    prompts.confirm_answer = True
    panel.btn_resend.click()
    qtbot.waitUntil(lambda: states(lab, [i.id for i in items]) == ["pending", "pending"], timeout=5000)
    with lab.box() as box:
        assert all(box.get_item(i.id).forced for i in items)


def test_export_selected_to_csv(qtbot, app, lab, prompts, tmp_path):
    panel = show(qtbot, app, "failed")
    select(panel, 0, 1)
    prompts.save_answer = tmp_path / "out" / "failed-results"
    (tmp_path / "out").mkdir()
    panel.btn_export.click()
    target = tmp_path / "out" / "failed-results.csv"
    qtbot.waitUntil(target.exists, timeout=5000)
    with target.open(encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["relay_id"] for r in rows] == [str(panel.model.row(0).id), str(panel.model.row(1).id)]
    assert all(r["state"] == "failed" and r["last_error"] for r in rows)
    assert rows[0]["Result_ID"] == panel.model.row(0).tracking_id and rows[0]["Patient_last_name"]
    assert not (tmp_path / "out" / "failed-results.csv.partial").exists()
    settle(qtbot, app)
    assert app.window.statusBar().currentMessage() == f"Exported 2 result(s) to {target}."
    prompts.save_answer = None  # cancelled: nothing written, nothing run
    panel.btn_export.click()
    assert app.session.worker.idle


def test_pause_resume_and_send_now_from_the_shared_actions(qtbot, app, lab, agents):
    assert app.actions.pause.text() == "Pause sending"
    app.actions.pause.trigger()
    qtbot.waitUntil(lambda: app.actions.pause.text() == "Resume sending", timeout=5000)
    with lab.box() as box:
        assert box.get_control(PAUSED_BY) == "person"
    assert agents[0].calls[0][0] == "pause" and agents[0].calls[0][1].startswith("paused by ")
    assert not app.actions.send_now.isEnabled()
    assert app.tray.kind == "attention"  # failed items still need a person: red wins over waiting
    app.actions.pause.trigger()
    qtbot.waitUntil(lambda: app.actions.pause.text() == "Pause sending", timeout=5000)
    with lab.box() as box:
        assert box.get_control(PAUSED_BY) is None
    app.actions.send_now.trigger()
    qtbot.waitUntil(lambda: ("send_now", None) in agents[0].calls, timeout=5000)
    settle(qtbot, app)
    assert app.window.statusBar().currentMessage().startswith("Sending now: ")


def test_a_long_action_never_freezes_the_window(qtbot, app, agents):
    agent = agents[0]
    agent.gate = threading.Event()
    panel = show(qtbot, app, "failed")
    select(panel, 0)
    panel.btn_retry.click()
    assert agent.entered.wait(5)
    # The action is still running: the GUI thread keeps serving events and shows the work.
    gui_thread_serves_events(qtbot)
    assert app.window.busy.isVisible() and app.window.busy_label.text().startswith("Putting 1 result(s) back")
    panel.show_view("sent")  # the person can keep working meanwhile
    qtbot.waitUntil(lambda: panel.current.key == "sent" and panel.model.loaded_once)
    agent.gate.set()
    qtbot.waitUntil(lambda: app.session.worker.idle, timeout=5000)
    assert not app.window.busy.isVisible()


def test_refreshes_are_coalesced(qtbot, app, agents):
    from relay.ui.session import MIN_REFRESH_S

    app.session.min_refresh_s = MIN_REFRESH_S
    settle(qtbot, app)
    reads = []
    real = app.session.reader.stats
    app.session.reader.stats = lambda: (reads.append(1), real())[1]
    sent = []

    def tick():  # the sender reports progress every 20 ms for 1.2 s
        agents[0].emit(CountsChanged(float(len(sent))))
        sent.append(1)

    timer = QTimer()
    timer.timeout.connect(tick)
    timer.start(20)
    qtbot.waitUntil(lambda: len(sent) >= 60, timeout=5000)
    timer.stop()
    settle(qtbot, app)
    assert 2 <= len(reads) <= 5  # about one read per 500 ms, however many events
