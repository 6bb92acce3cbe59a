"""The tray icon's four looks, its tooltip and menu, and one notification per incident."""

from __future__ import annotations

import pytest
from PySide6.QtGui import QImage
from PySide6.QtWidgets import QSystemTrayIcon

from relay.events import ItemsFailed, SenderState
from relay.status import PAUSED_BY, PAUSED_REASON, PROBLEMS
from relay.ui import icons
from relay.ui.status_text import ATTENTION, DELIVERED, SENDING, WAITING
from tests.ui.support import T0, settle

pytestmark = pytest.mark.gui


def refreshed(qtbot, app):
    app.session.request_refresh()
    settle(qtbot, app)


def clear_attention(lab):
    with lab.box() as box:
        box.retry(state="failed", now=T0, actor="test")
        box.retry(state="dead", now=T0, actor="test")


def deliver_everything(lab):
    with lab.box() as box:
        build = __import__("relay.delivery.wire", fromlist=["BUILDERS"]).BUILDERS["csv"]
        while (b := box.claim(now=T0 + 100, lease_s=60, owner="t", limit=500, build=build)) is not None:
            box.complete(b.id, owner="t", receipt="r", status=201, now=T0 + 101)


def test_four_looks_with_tooltips(qtbot, app, lab, agents):
    tray = app.tray
    icon = tray.icon
    assert icon.visible and icon.menu is tray.menu
    assert tray.kind == ATTENTION  # the lab has failed and dead results
    assert icon.tooltip.startswith(f"relay: {lab.filled.failed + lab.filled.dead} results need a person")

    clear_attention(lab)
    agents[0].emit(SenderState("sending"))
    refreshed(qtbot, app)
    assert tray.kind == SENDING and icon.tooltip.startswith("relay: Sending ")

    agents[0].emit(SenderState("waiting", "retrying after an error", T0 + 300))
    refreshed(qtbot, app)
    assert tray.kind == WAITING and "Next try 14:05" in icon.tooltip

    agents[0].box.set_control({"unavailable_until": repr(T0 + 600)})
    refreshed(qtbot, app)
    assert tray.kind == WAITING and "wait until 14:10" in icon.tooltip

    agents[0].box.set_control({"unavailable_until": None})
    deliver_everything(lab)
    agents[0].emit(SenderState("idle"))
    refreshed(qtbot, app)
    assert tray.kind == DELIVERED
    lines = icon.tooltip.split("\n")
    assert lines == ["relay: All results delivered", "0 waiting · 0 failed · 0 dead-letter",
                     "Last delivery: 14:01 (just now)"]

    agents[0].box.set_control({PROBLEMS: '["the watched folder /srv/inbox is missing"]'})
    refreshed(qtbot, app)
    assert tray.kind == ATTENTION and "the watched folder /srv/inbox is missing" in icon.tooltip


def test_the_four_icons_differ_and_carry_their_accent(qtbot):
    images = {}
    for kind in (DELIVERED, SENDING, WAITING, ATTENTION):
        pm = icons.draw_look(kind, 32)
        img: QImage = pm.toImage()
        assert img.pixelColor(16, 3).name() != "#000000"
        images[kind] = img
        # the accent fills the disc (sampled away from the glyph)
        assert img.pixelColor(5, 16).name() in (icons.ACCENTS[kind], icons.QColor(icons.ACCENTS[kind]).name())
        assert img.pixelColor(0, 0).alpha() == 0  # transparent corners
    assert len({bytes(img.constBits()) for img in images.values()}) == 4


def test_menu_has_the_six_commands_and_pause_follows_the_state(qtbot, app, lab):
    names = [a.text() for a in app.tray.menu.actions() if not a.isSeparator()]
    assert names == ["Open queue", "Pause sending", "Send now", "Open watched folder", "Settings…", "Quit"]
    app.actions.pause.trigger()
    qtbot.waitUntil(lambda: "Resume sending" in [a.text() for a in app.tray.menu.actions()], timeout=5000)
    app.window.hide()
    app.tray.icon.activated.emit(QSystemTrayIcon.ActivationReason.Trigger)
    assert app.window.isVisible()
    assert app.actions.open_folder.isEnabled()  # the lab has a watched folder


def test_one_notification_per_incident(qtbot, app, lab, agents):
    icon = app.tray.icon
    agent = agents[0]
    settle(qtbot, app)
    assert icon.messages == []  # failed/dead already there at start: the red icon says it
    # The intake rejects results in three batches of one file, while the sender keeps retrying others.
    with lab.box() as box:
        build = __import__("relay.delivery.wire", fromlist=["BUILDERS"]).BUILDERS["csv"]
        for _ in range(3):
            b = box.claim(now=T0 + 10, lease_s=60, owner="t", limit=2, build=build)
            box.reject_items(b.id, owner="t", failures={1: "Patient_DOB: not a date"}, status=400, now=T0 + 11)
            agent.emit(ItemsFailed(1, "Patient_DOB: not a date", T0 + 11))
            agent.emit(SenderState("waiting", "retrying after an error", T0 + 60))
            refreshed(qtbot, app)
    assert icon.messages == []  # settling: more may follow
    lab.clock.advance(10)
    refreshed(qtbot, app)
    assert [t for t, _ in icon.messages] == ["The intake rejected 3 results"]

    agent.box.set_control({PAUSED_BY: "intake", PAUSED_REASON: "the intake rejected relay's credentials (401)"})
    for _ in range(3):  # the sender probes now and then: still one incident
        lab.clock.advance(300)
        refreshed(qtbot, app)
    assert [t for t, _ in icon.messages] == ["The intake rejected 3 results", "Credentials rejected"]


def test_without_a_tray_notices_go_to_the_window(qtbot, make_app, lab, agents):
    app = make_app(tray=False)
    assert app.tray.icon is None and app.window.isVisible()
    agents[0].box.set_control({PAUSED_BY: "intake", PAUSED_REASON: "the intake rejected relay's credentials (401)"})
    refreshed(qtbot, app)
    assert app.window.statusBar().currentMessage() == ("Credentials rejected: the intake rejected relay's "
                                                       "credentials (401)")


def test_stall_notice_after_an_hour_without_delivery(qtbot, app, lab, agents):
    icon = app.tray.icon
    clear_attention(lab)
    refreshed(qtbot, app)
    lab.clock.advance(3600)
    refreshed(qtbot, app)
    assert [t for t, _ in icon.messages] == ["No delivery for 1 hour"]
