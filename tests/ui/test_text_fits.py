"""What a person reads is never cut: word-wrapped labels get the height their text needs, and the
window fits a small screen."""

from __future__ import annotations

import pytest
from PySide6.QtWidgets import QApplication

from relay.ui.window import DEFAULT_SIZE, default_size

pytestmark = pytest.mark.gui

LONG_ANSWER = ("The intake refused the credential (HTTP 401: the bearer token has expired or was revoked; ask the "
               "intake's administrators for a new one and store it with `relay token set`). Nothing was sent.")


def _fits(label) -> bool:
    return label.height() >= label.heightForWidth(label.width()) > 0


def _overlaps(a, b) -> bool:
    ra = a.rect().translated(a.mapTo(a.window(), a.rect().topLeft()))
    rb = b.rect().translated(b.mapTo(b.window(), b.rect().topLeft()))
    return ra.intersects(rb)


def test_the_relay_token_note_and_a_long_test_answer_are_shown_whole(qtbot, monkeypatch, app):
    monkeypatch.setenv("RELAY_TOKEN", "from-the-environment-0123456789")
    dialog = app.open_settings()
    qtbot.waitUntil(lambda: dialog.token.placeholderText() != "checking…")
    dialog.show()
    qtbot.waitExposed(dialog)
    assert dialog.token_note.isVisible()
    dialog.test_result.setText(LONG_ANSWER)
    QApplication.processEvents()
    qtbot.waitUntil(lambda: _fits(dialog.test_result) and _fits(dialog.token_note), timeout=3000)
    assert dialog.test_result.heightForWidth(dialog.test_result.width()) > dialog.fontMetrics().height() * 2
    qtbot.waitUntil(lambda: not _overlaps(dialog.token_note, dialog.test_button), timeout=3000)
    assert not _overlaps(dialog.token_note, dialog.test_button)
    assert not _overlaps(dialog.test_result, dialog.folders)
    dialog.reject()


def test_the_window_fits_a_1024_by_768_screen():
    w, h = default_size()
    room = QApplication.primaryScreen().availableGeometry()
    assert (w, h) <= DEFAULT_SIZE and w <= room.width() and h <= room.height()
