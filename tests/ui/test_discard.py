"""Discarding failed and dead-letter results from the window, the Discarded view, and retrying
from it; checked in the outbox afterwards. Discarded results are a person's decision: they never
make the tray or the summary ask for attention."""

from __future__ import annotations

import threading

import pytest
from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import QApplication, QDialog

from relay.cli import _parser
from relay.delivery.wire import BUILDERS
from relay.ingest.files import ingest_file
from relay.samples import write_simple_report
from relay.ui import status_text as words
from relay.ui.prompts import Prompts, ReasonDialog
from relay.ui.views import VIEWS
from tests.ui.support import T0, gui_thread_serves_events, select, settle, show, states, view_count

pytestmark = pytest.mark.gui

DAY = 86_400.0
TEST_EXPORT_REASON = "test export from the new analyser, not real results"
CLIA = "Performing_facility_CLIA: '00D0000000' is not a registered facility (field Performing_facility_CLIA)"


def history(lab, item_id):
    with lab.box() as box:
        return box.history(item_id)


def park_a_sent_batch(lab) -> list[int]:
    """Three results sent three weeks ago without an answer and given up after 14 days: their
    batch is parked (it may be at the intake), so they are dead but still bound to it."""
    path = write_simple_report(lab.folder / "inbox" / "results_old_0700.csv", 3, seed=77)
    with lab.box() as box:
        ingest_file(box, path, client="simple_report.default", source="watch", now=T0 - 20 * DAY,
                    report_dir=lab.folder / "inbox" / "reports")
        batch = box.claim(now=T0 - 20 * DAY + 10, lease_s=60, owner="t", limit=500, build=BUILDERS["csv"])
        assert batch is not None and len(batch.item_ids) == 3
        box.backoff(batch.id, owner="t", next_at=T0 - 20 * DAY + 600, status=None,
                    error="could not reach the intake (ConnectError)", now=T0 - 20 * DAY + 11)
        box.expire(now=T0 - 5 * DAY, after_days=14)
        items = [box.get_item(i) for i in batch.item_ids]
        assert {(i.state, i.batch_id) for i in items} == {("dead", batch.id)}
        return list(batch.item_ids)


# -- discarding -------------------------------------------------------------------------------------


def test_discard_asks_in_plain_words_and_sets_the_results_aside(qtbot, app, lab, prompts, agents):
    f = lab.filled
    panel = show(qtbot, app, "failed")
    button = panel.btn_discard
    assert button.isVisible() and button.text() == "&Discard selected…" and not button.isEnabled()
    select(panel, 0)
    assert button.isEnabled()
    item = panel.model.row(0)

    prompts.reason_answer = None  # the person cancels: nothing runs, nothing changes
    button.click()
    (title, text), = prompts.asked
    assert title == "Discard this result?"
    assert text.startswith("This result will not be sent to the intake.")
    assert "stays in the Discarded list" in text and "can be retried" in text
    assert "same batch" not in text  # a rejected result travels alone from here on
    assert app.session.worker.busy_label == ""  # no action was started
    settle(qtbot, app)
    assert not [c for c in agents[0].calls if c[0] == "discard"] and states(lab, [item.id]) == ["failed"]

    prompts.reason_answer = "the lab sends a corrected result"
    button.click()
    qtbot.waitUntil(lambda: states(lab, [item.id]) == ["discarded"], timeout=5000)
    assert agents[0].calls[-1][1][:3] == ([item.id], "person", "the lab sends a corrected result")
    last = history(lab, item.id)[-1]
    assert (last.kind, last.detail) == ("discard", "by person: the lab sends a corrected result")
    qtbot.waitUntil(lambda: view_count(panel, "discarded") == str(f.discarded + 1), timeout=5000)
    settle(qtbot, app)
    assert view_count(panel, "failed") == str(f.failed - 1)
    assert panel.model.rowCount() == f.failed - 1
    assert app.window.statusBar().currentMessage() == (
        "1 result(s) discarded: they will not be sent. They are kept in Discarded, where Retry puts them back "
        "in the queue.")
    with lab.box() as box:
        kept = box.get_item(item.id)
    assert kept.payload and kept.last_error == item.last_error  # nothing deleted, the cause kept


def test_discard_several_with_no_reason_from_the_dead_letter_view(qtbot, app, lab, prompts):
    panel = show(qtbot, app, "dead")
    assert panel.btn_discard.isVisible() and panel.btn_requeue_dead.isVisible()
    select(panel, *range(panel.model.rowCount()))
    ids = [panel.model.row(r).id for r in range(panel.model.rowCount())]
    prompts.reason_answer = ""
    panel.btn_discard.click()
    (title, text), = prompts.asked
    assert title == f"Discard {len(ids)} results?" and text.startswith(f"These {len(ids)} results will not be sent")
    assert "they stay in the Discarded list with their content and history" in text
    qtbot.waitUntil(lambda: set(states(lab, ids)) == {"discarded"}, timeout=5000)
    assert all(history(lab, i)[-1].detail == "by person" for i in ids)  # no reason: none stored
    qtbot.waitUntil(lambda: panel.model.rowCount() == 0, timeout=5000)


def test_discarding_runs_on_the_action_thread_and_the_window_stays_usable(qtbot, app, lab, agents):
    agent = agents[0]
    agent.gate = threading.Event()
    panel = show(qtbot, app, "failed")
    select(panel, 0)
    item = panel.model.row(0)
    panel.btn_discard.click()
    assert agent.entered.wait(5)
    gui_thread_serves_events(qtbot)
    assert app.window.busy.isVisible() and app.window.busy_label.text() == "Discarding 1 result(s)…"
    assert states(lab, [item.id]) == ["failed"]  # held mid-way: not yet
    panel.show_view("sent")
    qtbot.waitUntil(lambda: panel.current.key == "sent" and panel.model.loaded_once)
    agent.gate.set()
    qtbot.waitUntil(lambda: app.session.worker.idle, timeout=5000)
    thread = agent.calls[-1][1][3]
    assert thread.startswith("relay-ui-action") and thread != threading.current_thread().name
    assert states(lab, [item.id]) == ["discarded"] and not app.window.busy.isVisible()


def test_a_parked_batch_is_discarded_whole_and_the_window_says_so(qtbot, make_app, lab, prompts):
    parked = park_a_sent_batch(lab)
    app = make_app()
    panel = show(qtbot, app, "dead")
    assert panel.model.rowCount() == lab.filled.dead + 3
    row = next(r for r in range(panel.model.rowCount()) if panel.model.row(r).id == parked[1])
    select(panel, row)
    panel.btn_discard.click()
    (_, text), = prompts.asked
    assert ("It was sent before without an answer from the intake: the other results sent in the same batch are "
            "discarded with it, and come back with it on a retry.") in text
    qtbot.waitUntil(lambda: set(states(lab, parked)) == {"discarded"}, timeout=5000)
    settle(qtbot, app)
    assert app.window.statusBar().currentMessage() == (
        "3 result(s) discarded: they will not be sent. They are kept in Discarded, where Retry puts them back in "
        "the queue. That is 1 selected and 2 more that travelled in the same batch (sent before, outcome unknown), "
        "which is set aside whole.")
    assert view_count(panel, "discarded") == str(lab.filled.discarded + 3)
    assert view_count(panel, "dead") == str(lab.filled.dead)

    # A retry of one brings the batch back whole, under the same key (never a second copy).
    panel = show(qtbot, app, "discarded")
    select(panel, next(r for r in range(panel.model.rowCount()) if panel.model.row(r).id == parked[0]))
    panel.btn_retry.click()
    qtbot.waitUntil(lambda: set(states(lab, parked)) == {"pending"}, timeout=5000)
    with lab.box() as box:
        assert len({box.get_item(i).batch_id for i in parked}) == 1


# -- the confirmation itself ---------------------------------------------------------------------------


def test_the_reason_dialog_takes_the_focus_and_enter_confirms(qtbot):
    dialog = ReasonDialog(None, "Discard 2 results?", "These 2 results will not be sent.", "&Discard",
                          "&Reason (optional, kept in the history):", "for example: a test record")
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitExposed(dialog)
    dialog.activateWindow()
    assert dialog.ok.isDefault() and dialog.ok.text() == "&Discard"
    assert dialog.label.buddy() is dialog.reason and dialog.reason.placeholderText() == "for example: a test record"
    assert dialog.focusWidget() is dialog.reason  # type at once
    qtbot.keyClicks(dialog.reason, "  a test   record ")
    qtbot.keyClick(dialog.reason, Qt.Key.Key_Return)
    assert dialog.result() == QDialog.DialogCode.Accepted
    assert dialog.reason_text() == "a test record"  # one line, as it goes into the history
    dialog.reason.setText("pasted\ton\ttwo lines")
    assert dialog.reason_text() == "pasted on two lines"

    again = ReasonDialog(None, "t", "x", "&Discard", "&Reason")
    qtbot.addWidget(again)
    again.show()
    qtbot.keyClick(again.reason, Qt.Key.Key_Escape)
    assert again.result() == QDialog.DialogCode.Rejected


@pytest.mark.parametrize("press, answer", [("ok", "not a real result"), ("cancel", None)])
def test_prompts_confirm_with_reason_returns_the_reason_or_none(qtbot, press, answer):
    seen = []

    def answer_it():
        dialog = QApplication.activeModalWidget()
        assert isinstance(dialog, ReasonDialog)
        seen.append(dialog.text.text())
        dialog.reason.setText("not a real result")
        (dialog.ok if press == "ok" else dialog.cancel).click()

    QTimer.singleShot(0, answer_it)
    got = Prompts().confirm_with_reason(None, "Discard this result?", "This result will not be sent.", "&Discard",
                                        "&Reason:")
    assert seen == ["This result will not be sent."] and got == answer


# -- the Discarded view --------------------------------------------------------------------------------


def test_discarded_view_lists_them_with_why_they_had_failed(qtbot, app, lab):
    panel = show(qtbot, app, "discarded")
    model, table = panel.model, panel.table
    headers = [model.headerData(c, Qt.Orientation.Horizontal) for c in range(model.columnCount())
               if not table.isColumnHidden(c)]
    assert headers == ["Received", "Source", "Tracking id", "Attempts", "Reason"]
    assert model.rowCount() == lab.filled.discarded == 2 and panel.count.text() == "2 results"
    assert view_count(panel, "discarded") == "2"
    assert {model.data(model.index(r, model.column_index("reason"))) for r in range(2)} == {CLIA}
    assert {model.row(r).source_name for r in range(2)} == {"results_today_0930_test.csv"}
    assert panel.btn_retry.isVisible() and panel.btn_retry.text() == "&Retry selected…"
    assert not panel.btn_retry.isEnabled()  # nothing selected yet
    assert not panel.btn_discard.isVisible() and not panel.btn_retry_all.isVisible()
    assert panel.btn_export.isVisible()

    select(panel, 0)
    assert panel.btn_retry.isEnabled()
    item = model.row(0)
    detail = panel.detail
    qtbot.waitUntil(lambda: detail.shown_id == item.id)
    assert detail.title.text() == f"Result #{item.id} · Discarded · results_today_0930_test.csv, line {item.line}"
    info = dict(detail.info_pairs)
    assert info["Status"] == f"Discarded by a person: will not be sent (it had failed: {CLIA}) (last answer HTTP 400)"
    assert info["Discarded"] == "2026-01-05 10:00 by a person"
    assert info["Reason given"] == TEST_EXPORT_REASON
    rows = [(detail.history.item(r, 1).text(), detail.history.item(r, 2).text())
            for r in range(detail.history.rowCount())]
    assert rows[-1] == ("Discarded: will not be sent", f"by a person: {TEST_EXPORT_REASON}")


def test_retry_from_the_discarded_view_asks_then_puts_them_back(qtbot, app, lab, prompts):
    f = lab.filled
    panel = show(qtbot, app, "discarded")
    select(panel, 0, 1)
    ids = [panel.model.row(r).id for r in (0, 1)]
    prompts.confirm_answer = False
    qtbot.keySequence(app.window, QKeySequence("Ctrl+R"))  # the keyboard asks too
    (title, text), = prompts.asked
    assert title == "Send discarded results?"
    assert text.startswith("A person decided these 2 results were not to be sent. If you continue, they go back "
                           "in the queue and relay sends them to the intake.")
    settle(qtbot, app)
    assert states(lab, ids) == ["discarded", "discarded"]

    prompts.confirm_answer = True
    panel.btn_retry.click()
    qtbot.waitUntil(lambda: states(lab, ids) == ["pending", "pending"], timeout=5000)
    qtbot.waitUntil(lambda: panel.model.rowCount() == 0, timeout=5000)
    settle(qtbot, app)
    assert view_count(panel, "discarded") == "0" and view_count(panel, "pending") == str(f.pending + 2)
    assert app.window.statusBar().currentMessage() == "2 result(s) back in the queue."
    assert [h.detail for h in history(lab, ids[0]) if h.kind == "retry"] == ["by person"]


# -- never an alarm ----------------------------------------------------------------------------------


def test_discarded_results_never_make_the_tray_or_the_summary_ask_for_attention(qtbot, app, lab, prompts):
    f = lab.filled
    assert app.tray.kind == words.ATTENTION  # failed and dead results need a person...
    prompts.reason_answer = "dealt with by phone"
    for key in ("failed", "dead"):  # ...until a person discards them all
        panel = show(qtbot, app, key)
        select(panel, *range(panel.model.rowCount()))
        panel.btn_discard.click()
        qtbot.waitUntil(lambda: panel.model.rowCount() == 0, timeout=5000)
    settle(qtbot, app)
    stats = app.session.stats
    assert (stats["failed"], stats["dead"], stats["discarded"]) == (0, 0, f.discarded + f.failed + f.dead)
    assert app.tray.kind == words.SENDING  # results wait to be sent; nothing needs a person
    tip = app.tray.icon.tooltip
    assert tip.startswith("relay: Sending ") and "0 failed · 0 dead-letter" in tip
    assert not any("need" in line for line in app.window.summary.texts())
    assert view_count(app.window.panel, "discarded") == str(f.discarded + f.failed + f.dead)


def test_words_for_the_discarded_state():
    assert words.STATE_LABELS["discarded"] == "Discarded"
    assert words.short_reason("discarded", "Patient_DOB: not a date", 1) == "Patient_DOB: not a date"
    assert words.reason("discarded", "not delivered within 14 days", 0) == \
        "Discarded by a person: will not be sent (it had failed: not delivered within 14 days)"
    assert words.reason("discarded", None, 0) == "Discarded by a person: will not be sent"
    calm = {"pending": 0, "sending": 0, "sent": 10, "failed": 0, "dead": 0, "discarded": 7, "running": True,
            "now": "2026-01-05T14:00:00+00:00"}
    assert words.look(calm).kind == words.DELIVERED and words.conditions(calm) == []


def test_relay_gui_view_takes_every_view_of_the_window(capsys):
    for spec in VIEWS:
        assert _parser().parse_args(["gui", "--view", spec.key]).view == spec.key
    with pytest.raises(SystemExit):
        _parser().parse_args(["gui", "--view", "deleted"])
    assert "discarded" in capsys.readouterr().err  # the choices are listed


def test_every_views_buttons_have_their_own_keys(qtbot, app):
    """Alt plus the underlined letter presses a button: within a view no two share a letter."""
    panel = app.window.panel
    for spec in VIEWS:
        panel = show(qtbot, app, spec.key)
        keys = [QKeySequence.mnemonic(b.text()).toString() for b in panel.buttons if b.isVisibleTo(panel)]
        assert len(keys) == len(set(keys)) and "" not in keys, f"{spec.title}: {keys}"
        if spec.key in ("failed", "dead"):
            assert "Alt+D" in keys


def test_screenshot_of_the_discarded_view(qtbot, lab, agent_factory, tmp_path):
    from PySide6.QtGui import QImage

    from relay.ui.app import main

    png = tmp_path / "discarded.png"
    assert main(lab.config, screenshot=str(png), agent_factory=agent_factory, view="discarded") == 0
    assert QImage(str(png)).width() == 1100
