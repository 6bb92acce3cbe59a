"""The settings dialog: values from relay.toml, errors next to the fields, writing back what the
form edits (and nothing else), the credential into the keyring only, test connection."""

from __future__ import annotations

import socket
import tomllib

import keyring
import keyring.backends.fail
import pytest
from PySide6.QtWidgets import QTableWidgetItem

from relay import credentials
from relay.ui.config_edit import ADDRESS_HELP
from relay.ui.settings import NO_KEYRING
from tests.ui.support import settle

pytestmark = pytest.mark.gui


@pytest.fixture
def dialog(qtbot, app):
    d = app.open_settings()
    qtbot.waitUntil(lambda: d.token.placeholderText() != "checking…")
    return d


def test_the_form_shows_the_file(dialog, lab):
    assert dialog.path == lab.config_path
    assert dialog.url.text() == "http://127.0.0.1:9/api/waters"
    assert dialog.client.text() == "simple_report.default"
    assert (dialog.format.currentText(), dialog.auth.currentData(), dialog.batch.value()) == ("csv", "bearer", 500)
    assert [dialog.folders.item(i).text() for i in range(dialog.folders.count())] == ["inbox"]
    assert [dialog.windows.item(0, c).text() for c in range(4)] == ["sun", "02:00", "04:00", "America/New_York"]
    assert dialog.token.text() == "" and dialog.token.placeholderText() == "not set"
    assert not dialog.token_note.isVisibleTo(dialog)  # RELAY_TOKEN is not set here


def test_errors_are_shown_next_to_their_fields_and_nothing_is_written(qtbot, dialog, lab):
    before = lab.config_path.read_bytes()
    dialog.url.setText("intake.example.org/api")
    dialog.client.setText("  ")
    dialog.windows.setItem(0, 3, QTableWidgetItem("Mars/Olympus"))
    dialog.buttons.accepted.emit()
    assert not dialog.errors["url"].isHidden()
    assert dialog.errors["url"].text() == ADDRESS_HELP
    for scheme in ("https://", "s3://", "sftp://", "mllp://", "mllps://"):
        assert scheme in ADDRESS_HELP
    assert dialog.errors["client"].text() == "must not be empty"
    assert dialog.errors["format"].isHidden()
    assert dialog.isVisible() and lab.config_path.read_bytes() == before

    dialog.url.setText("https://intake.example.org/api/waters")
    dialog.client.setText("lab.north")
    dialog.buttons.accepted.emit()
    assert dialog.errors["url"].isHidden() and dialog.errors["client"].isHidden()
    assert dialog.window_errors.text() == "Row 1 timezone: unknown time zone 'Mars/Olympus'"
    assert lab.config_path.read_bytes() == before


def test_saving_writes_the_file_keeps_the_rest_and_restarts_sending(qtbot, app, dialog, lab, prompts, agents,
                                                                  tmp_path):
    other = tmp_path / "share-exports"
    other.mkdir()
    prompts.folder_answer = other
    dialog.folders.setCurrentRow(0)
    dialog.remove_selected_folder()
    dialog.add_folder()
    dialog.batch.setValue(250)
    dialog.format.setCurrentText("ndjson")
    dialog.add_window({"days": "mon-fri", "start": "12:00", "end": "12:30", "timezone": "Europe/Berlin"})
    dialog.buttons.accepted.emit()
    qtbot.waitUntil(lambda: not dialog.isVisible())
    data = tomllib.loads(lab.config_path.read_text(encoding="utf-8"))
    assert data["intake"] == {"url": "http://127.0.0.1:9/api/waters", "client": "simple_report.default",
                              "format": "ndjson", "batch_max_items": 250}
    assert data["store"] == {"path": "outbox.db"} and data["listener"] == {"enabled": False}
    assert data["watch"] == [{"folder": str(other)}]
    assert data["maintenance"][1] == {"days": "mon-fri", "start": "12:00", "end": "12:30",
                                      "timezone": "Europe/Berlin"}
    assert (lab.folder / "relay.toml.bak").exists()
    # sending restarted with the new settings: a new agent, the old one stopped
    qtbot.waitUntil(lambda: len(agents) == 2 and agents[1].started == 1 and app.session.running, timeout=5000)
    assert agents[0].stopped == 1
    assert agents[1].config.intake.batch_max_items == 250 and agents[1].config.watches[0].folder == other
    assert app.session.config is agents[1].config
    settle(qtbot, app)
    assert app.window.statusBar().currentMessage() == "Settings applied: sending restarted with them."
    # the window keeps working with the new agent
    app.actions.pause.trigger()
    qtbot.waitUntil(lambda: ("pause", agents[1].calls[0][1] if agents[1].calls else None)[1] is not None)


def test_the_credential_goes_to_the_keyring_and_is_never_shown(qtbot, app, memory_keyring, agents, lab):
    d = app.open_settings()
    qtbot.waitUntil(lambda: d.token.placeholderText() == "not set")
    d.token.setText("s3cret-token-value")
    d.buttons.accepted.emit()
    qtbot.waitUntil(lambda: not d.isVisible(), timeout=5000)
    assert memory_keyring.secrets == {(credentials.SERVICE, credentials.ACCOUNT): "s3cret-token-value"}
    assert "s3cret" not in lab.config_path.read_text(encoding="utf-8")
    assert ("set_token", "***") in agents[0].calls
    again = app.open_settings()
    qtbot.waitUntil(lambda: again.token.placeholderText() == "stored")
    assert again.token.text() == ""


def test_no_secure_store_is_said_plainly_and_nothing_is_kept(qtbot, app, lab):
    previous = keyring.get_keyring()
    keyring.set_keyring(keyring.backends.fail.Keyring())
    try:
        d = app.open_settings()
        qtbot.waitUntil(lambda: d.token.placeholderText() != "checking…")
        before = lab.config_path.read_bytes()
        d.token.setText("s3cret-token-value")
        d.buttons.accepted.emit()
        qtbot.waitUntil(lambda: not d.errors["token"].isHidden(), timeout=5000)
        assert d.errors["token"].text() == NO_KEYRING
        assert "no secure credential store" in NO_KEYRING and "RELAY_TOKEN" in NO_KEYRING
        assert d.isVisible() and lab.config_path.read_bytes() == before
        assert not any("s3cret" in p.read_text(errors="replace") for p in lab.folder.glob("*.toml*"))
    finally:
        keyring.set_keyring(previous)


def test_test_connection_reports_in_plain_words(qtbot, dialog):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    dialog.url.setText(f"http://127.0.0.1:{port}/api/waters")
    dialog.test_button.click()
    qtbot.waitUntil(lambda: dialog.last_probe is not None, timeout=10_000)
    assert dialog.test_result.text().startswith(f"Could not reach 127.0.0.1:{port}: ")
    assert "refused" in dialog.test_result.text() and dialog.test_button.isEnabled()
    dialog.url.setText("not a url")
    dialog.test_button.click()
    assert dialog.test_result.text() == "Correct the settings marked above first."
