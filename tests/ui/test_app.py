"""`relay gui` as a whole: the screenshot mode, an agent that cannot start, one app per outbox,
and the real agent delivering to the real receiving stub while the window and tray follow."""

from __future__ import annotations

import json
import shutil
import time

import pytest
from PySide6.QtCore import QTimer
from PySide6.QtGui import QImage

from relay.config import load
from relay.errors import EnvironmentProblem
from relay.samples import write_simple_report
from relay.ui.app import RelayApp, main
from relay.ui.single import ask_running
from relay.ui.status_text import ATTENTION, DELIVERED
from tests.ui.fakes import FakeAgent, FakeTray
from tests.ui.support import settle, view_count

pytestmark = pytest.mark.gui


def distinct_colours(img: QImage, step: int = 7) -> int:
    return len({img.pixel(x, y) for x in range(0, img.width(), step) for y in range(0, img.height(), step)})


def test_screenshot_renders_the_populated_window_and_exits(qtbot, lab, agent_factory, agents, tmp_path, capsys):
    png = tmp_path / "shots" / "queue.png"
    assert main(lab.config, screenshot=str(png), agent_factory=agent_factory) == 0
    img = QImage(str(png))
    assert (img.width(), img.height()) == (1100, 650)
    assert distinct_colours(img) > 20  # text, icons, a selected row: not an empty frame
    assert png.stat().st_size < 300_000
    assert agents[0].started == 1 and agents[0].stopped == 1
    assert f"screenshot written to {png}" in capsys.readouterr().out


def test_screenshot_of_another_view(qtbot, lab, agent_factory, tmp_path):
    png = tmp_path / "failed.png"
    assert main(lab.config, screenshot=str(png), agent_factory=agent_factory, view="failed") == 0
    assert QImage(str(png)).width() == 1100


def test_an_agent_that_cannot_start_is_a_plain_message_and_a_non_zero_exit(qtbot, lab, tmp_path, capsys, prompts):
    problem = EnvironmentProblem(f"another relay is already running on the outbox {lab.config.store.path}; "
                                 "stop it first (or use its window)")

    def failing(config):
        return FakeAgent(config, lab.clock, fail_start=problem)

    assert main(lab.config, screenshot=str(tmp_path / "x.png"), agent_factory=failing) == 1
    assert capsys.readouterr().err.strip() == f"relay: {problem}"
    assert not (tmp_path / "x.png").exists()

    assert main(lab.config, agent_factory=failing, tray_available=False, prompts=prompts) == 1
    assert prompts.errors == [("relay cannot start", str(problem))]


def test_a_second_launch_brings_the_first_window_forward(qtbot, lab, agent_factory, prompts):
    first = RelayApp(lab.config, agent_factory=agent_factory, tray_available=True, tray_factory=FakeTray,
                     prompts=prompts)
    qtbot.addWidget(first.window)
    try:
        first.start(show_window=False)
        assert not first.window.isVisible()
        started = time.monotonic()
        assert main(lab.config, agent_factory=agent_factory, tray_available=True, tray_factory=FakeTray) == 0
        assert time.monotonic() - started < 2
        qtbot.waitUntil(first.window.isVisible, timeout=3000)
    finally:
        first.close()
    assert not ask_running(lab.config.store.path)  # the first one is gone: nobody answers


def test_main_runs_until_quit(qtbot, lab, agent_factory, agents):
    seen_visible: list[bool] = []

    def quit_when_running():
        apps = [t.parent().parent() for t in FakeTray.instances]  # FakeTray -> Tray -> RelayApp
        if apps and isinstance(apps[-1], RelayApp) and apps[-1].session.running:
            seen_visible.append(apps[-1].window.isVisible())
            apps[-1].actions.quit.trigger()
        else:
            QTimer.singleShot(20, quit_when_running)

    FakeTray.instances.clear()
    QTimer.singleShot(20, quit_when_running)
    assert main(lab.config, agent_factory=agent_factory, tray_available=True, tray_factory=FakeTray) == 0
    assert agents[-1].started == 1 and agents[-1].stopped == 1 and seen_visible == [True]

    # started at login: in the tray only; sending starts all the same
    FakeTray.instances.clear()
    QTimer.singleShot(20, quit_when_running)
    assert main(lab.config, agent_factory=agent_factory, tray_available=True, tray_factory=FakeTray,
                hidden=True) == 0
    assert agents[-1].started == 1 and agents[-1].stopped == 1 and seen_visible == [True, False]


TOKEN = "ui-test-token-0123456789"


def test_the_real_agent_and_the_real_stub(qtbot, tmp_path, monkeypatch, prompts):
    helper = pytest.importorskip("tests.helpers.stub_server", reason="the receiving stub helper is not there yet")
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    monkeypatch.setenv("RELAY_TOKEN", TOKEN)
    with helper.stub_server(token=TOKEN) as stub:
        cfg = tmp_path / "relay.toml"
        cfg.write_text(
            f"[intake]\nurl = {json.dumps(stub.url)}\nbatch_max_items = 25\ntimeout_s = 5\n"
            "[store]\npath = \"outbox.db\"\n"
            "[[watch]]\nfolder = \"inbox\"\nsettle_s = 0.1\n"
            "[listener]\nenabled = false\n"
            "[delivery]\nretry_initial_s = 0.05\nretry_max_s = 0.5\nprobe_interval_s = 0.5\n", encoding="utf-8")
        config = load(cfg)
        app = RelayApp(config, tray_available=True, tray_factory=FakeTray, prompts=prompts)
        qtbot.addWidget(app.window)
        app.session.min_refresh_s = 0.05
        try:
            app.start(single_instance=False)
            qtbot.waitUntil(lambda: app.session.running, timeout=10_000)
            source = write_simple_report(tmp_path / "export.csv", 60, seed=5)
            shutil.move(source, inbox / "results_0800.csv")
            qtbot.waitUntil(lambda: app.session.stats.get("sent") == 60, timeout=30_000)
            qtbot.waitUntil(lambda: app.tray.kind == DELIVERED, timeout=10_000)
            assert stub.stats()["accepted_items"] == 60
            panel = app.window.panel
            panel.show_view("sent")
            qtbot.waitUntil(lambda: panel.model.rowCount() == 60, timeout=10_000)
            assert all(panel.model.row(r).receipt for r in range(60))
            assert view_count(panel, "files") == "1"  # one file

            # The credential stops working: sending pauses, one notice, the tray turns red.
            monkeypatch.setenv("RELAY_TOKEN", "a-revoked-token-0000000000")
            write_simple_report(inbox / "results_1200.csv", 10, seed=6)
            qtbot.waitUntil(lambda: app.tray.kind == ATTENTION, timeout=30_000)
            qtbot.waitUntil(lambda: [t for t, _ in app.tray.icon.messages] == ["Credentials rejected"],
                            timeout=10_000)
            assert app.session.stats["paused_by"] == "intake" and app.session.stats["pending"] == 10

            # Test connection says the same, in plain words, without sending anything.
            dialog = app.open_settings()
            assert dialog.token_note.isVisibleTo(dialog)  # RELAY_TOKEN wins over a stored credential
            dialog.test_button.click()
            qtbot.waitUntil(lambda: dialog.last_probe is not None, timeout=10_000)
            assert "rejected the credential (401)" in dialog.test_result.text()
            dialog.token.setText(TOKEN)  # a typed credential is tested before it is stored
            dialog.last_probe = None
            dialog.test_button.click()
            qtbot.waitUntil(lambda: dialog.last_probe is not None, timeout=10_000)
            assert dialog.last_probe.ok and "accepted the credential" in dialog.test_result.text()
            dialog.reject()
            requests_before = stub.stats()["accepted_items"]
            assert requests_before == 60  # the probes stored nothing

            # The right credential again and Resume: everything goes.
            monkeypatch.setenv("RELAY_TOKEN", TOKEN)
            app.actions.pause.trigger()  # the shared action says "Resume sending" now
            qtbot.waitUntil(lambda: app.session.stats.get("sent") == 70, timeout=30_000)
            qtbot.waitUntil(lambda: app.tray.kind == DELIVERED, timeout=10_000)
            assert stub.stats()["accepted_items"] == 70
            settle(qtbot, app)
        finally:
            app.close()


def test_a_screenshot_without_a_credential_does_not_leave_sending_paused(qtbot, lab, tmp_path):
    """The screenshot's agent found no credential and the sender paused, as it must while it runs;
    the picture taken, the outbox is left as it was: `relay status` does not say "paused"."""
    from relay.status import PAUSED_BY, PAUSED_REASON

    class NoCredential(FakeAgent):
        def start(self):
            super().start()
            self.outbox.pause_by_intake("no intake credential is stored: run `relay token set` or set RELAY_TOKEN",
                                        probe=True)

    made = []

    def factory(config):
        made.append(NoCredential(config, lab.clock))
        return made[-1]

    assert main(lab.config, screenshot=str(tmp_path / "a.png"), agent_factory=factory) == 0
    assert made and made[0].started == 1
    with lab.box() as box:
        assert box.get_control(PAUSED_BY) is None

    # A pause that was there before the picture (a person's, or the intake's) stays.
    with lab.box() as box:
        box.set_control({PAUSED_BY: "person", PAUSED_REASON: "paused by Ana"})
    assert main(lab.config, screenshot=str(tmp_path / "b.png"), agent_factory=factory) == 0
    with lab.box() as box:
        assert (box.get_control(PAUSED_BY), box.get_control(PAUSED_REASON)) == ("person", "paused by Ana")
