"""The words and looks the tray and the window use, from the status object (no Qt needed)."""

from __future__ import annotations

from datetime import timezone

import pytest

from relay.ui import status_text as words
from tests.ui.support import T0, iso

UTC = timezone.utc


def stats(**over):
    base = {"pending": 0, "sending": 0, "sent": 10, "failed": 0, "dead": 0, "duplicates": 0, "paused": False,
            "paused_by": None, "paused_reason": None, "maintenance_until": None, "in_maintenance_window": False,
            "intake_unavailable_until": None, "oldest_pending_at": None, "last_success_at": iso(T0 - 600),
            "problems": [], "now": iso(T0), "sender": {"state": "idle", "reason": None, "until": None},
            "running": True, "no_intake": False}
    base.update(over)
    return base


@pytest.mark.parametrize("over, kind, headline", [
    ({}, words.DELIVERED, "All results delivered"),
    ({"sent": 0}, words.DELIVERED, "Nothing to send yet"),
    ({"pending": 12, "sender": {"state": "sending"}}, words.SENDING, "Sending 12 results"),
    ({"pending": 1}, words.SENDING, "Sending 1 result"),
    ({"pending": 5, "in_maintenance_window": True, "maintenance_until": iso(T0 + 3600)}, words.WAITING,
     "Intake maintenance until 15:00"),
    ({"pending": 5, "intake_unavailable_until": iso(T0 + 120)}, words.WAITING,
     "The intake asked relay to wait until 14:02"),
    ({"pending": 5, "sender": {"state": "waiting", "reason": "retrying after an error", "until": T0 + 300}},
     words.WAITING, "Waiting: retrying after an error. Next try 14:05."),
    ({"paused": True, "paused_by": "person", "paused_reason": "paused by ana"}, words.WAITING,
     "Sending paused by a person (paused by ana)"),
    ({"running": False}, words.WAITING, "Starting: opening the outbox"),
    ({"failed": 3}, words.ATTENTION, "3 results need a person: 3 rejected by the intake"),
    ({"failed": 2, "dead": 1, "pending": 4}, words.ATTENTION,
     "3 results need a person: 2 rejected by the intake, 1 not delivered in time"),
    ({"paused": True, "paused_by": "intake", "paused_reason": "the intake rejected relay's credentials (401)"},
     words.ATTENTION, "Sending is paused: the intake rejected relay's credentials (401)"),
    ({"problems": ["the watched folder /srv/inbox is missing"]}, words.ATTENTION,
     "the watched folder /srv/inbox is missing"),
    ({"no_intake": True}, words.ATTENTION, "Not sending: no intake address is set (Settings)"),
])
def test_look(over, kind, headline):
    lk = words.look(stats(**over), UTC)
    assert (lk.kind, lk.headline) == (kind, headline)


def test_attention_wins_and_keeps_the_other_lines():
    lk = words.look(stats(failed=1, paused=True, paused_by="intake", paused_reason="retired (410)",
                          in_maintenance_window=True, maintenance_until=iso(T0 + 60)), UTC)
    assert lk.kind == words.ATTENTION
    assert lk.headline == "Sending is paused: retired (410)"
    assert lk.details == ("1 result needs a person: 1 rejected by the intake",)


def test_tooltip_has_counts_and_last_delivery():
    tip = words.tooltip(stats(pending=7, sending=3, failed=2, dead=1), UTC)
    lines = tip.split("\n")
    assert lines[0].startswith("relay: 3 results need a person")
    assert lines[1] == "10 waiting · 2 failed · 1 dead-letter"
    assert lines[2] == "Last delivery: 13:50 (10 min ago)"
    assert words.tooltip(stats(last_success_at=None), UTC).endswith("Last delivery: never")


def test_summary_line_and_notes():
    line, notes = words.summary(stats(pending=40, oldest_pending_at=iso(T0 - 2 * 3600 - 5 * 60),
                                      paused=True, paused_by="person", paused_reason="network work"), UTC)
    assert line == ("40 results waiting, oldest 2 h 5 min · last delivery 13:50 (10 min ago) · "
                    "10 delivered in all")
    assert notes == [(words.WAITING, "Sending paused by a person (network work)")]
    line, notes = words.summary(stats(), UTC)
    assert line.startswith("Nothing waiting · ") and notes == []


@pytest.mark.parametrize("seconds, text", [(5, "5 s"), (60, "1 min"), (3599, "59 min"), (3600, "1 h"),
                                           (3 * 3600 + 12 * 60, "3 h 12 min"), (50 * 3600, "2 days 2 h"),
                                           (-4, "0 s")])
def test_duration(seconds, text):
    assert words.duration(seconds) == text


def test_clock_and_stamp():
    assert words.clock(T0 - 3600, T0, UTC) == "13:00"
    assert words.clock(T0 - 86400, T0, UTC) == "Sun 14:00"
    assert words.clock(T0 - 30 * 86400, T0, UTC) == "2025-12-06 14:00"
    assert words.stamp(T0, UTC) == "2026-01-05 14:00"
    assert words.stamp(None) == ""
    assert words.ago(T0 - 10, T0) == "just now"


def test_item_reasons_and_next_attempt():
    assert words.reason("pending", None, 0) == "Waiting to be sent"
    assert words.reason("pending", "could not reach the intake (ConnectError); retried", 3) == \
        "Will try again: could not reach the intake (ConnectError); retried"
    assert words.short_reason("pending", "could not reach the intake (ConnectError); retried", 3) == \
        "Will try again: could not reach the intake (ConnectError)"
    assert words.reason("failed", "Patient_DOB: not a date", 1) == "Rejected by the intake: Patient_DOB: not a date"
    assert words.short_reason("failed", "Patient_DOB: not a date", 1) == "Patient_DOB: not a date"
    assert words.short_reason("dead", "not delivered within 14 days", 0) == "Not delivered within 14 days"
    assert words.reason("dead", "not delivered within 14 days", 0) == "Given up: not delivered within 14 days"
    assert words.reason("sent", None, 1, forced=True) == "Delivered (sent again on purpose)"
    assert words.next_attempt("pending", T0, T0, UTC) == "now"
    assert words.next_attempt("pending", T0 + 300, T0, UTC) == "in 5 min (14:05)"
    assert words.next_attempt("failed", T0 + 300, T0, UTC) == ""


def test_a_rejected_file_turns_the_tray_red_until_seen():
    """Everything delivered, but a file was rejected whole: not green (INTERFACE §3a)."""
    said = "results.xlsx.csv was rejected (see Files)"
    lk = words.look(stats(files_attention=said))
    assert (lk.kind, lk.headline) == (words.ATTENTION, said)
    assert words.tooltip(stats(files_attention=said)).startswith(f"relay: {said}\n")
    assert words.look(stats(files_attention=None)).kind == words.DELIVERED  # seen
