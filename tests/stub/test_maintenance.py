"""Maintenance windows: recurring ones across DST and midnight (injected clock), and the admin one."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from server_stub import ManualClock
from server_stub.maintenance import MaintenanceSchedule, RecurringWindow
from tests.helpers.stub_server import http_client, stub_server
from tests.stub.conftest import ERROR_ANSWER, assert_receipt, body, post


def utc(*parts: int) -> float:
    return datetime(*parts, tzinfo=timezone.utc).timestamp()


def until(window: str, ts: float) -> float | None:
    return RecurringWindow.parse(window).active_until(ts)


NY_MORNING = "mon-fri 09:30-11:00 America/New_York"


@pytest.mark.parametrize(
    ("ts", "expected_end"),
    [
        # Monday 2 March 2026, EST (UTC-5): the window is 14:30-16:00 UTC.
        (utc(2026, 3, 2, 14, 29, 59), None),
        (utc(2026, 3, 2, 14, 30), utc(2026, 3, 2, 16, 0)),
        (utc(2026, 3, 2, 15, 59, 59), utc(2026, 3, 2, 16, 0)),
        (utc(2026, 3, 2, 16, 0), None),
        # Monday 9 March 2026, after the change to EDT (UTC-4) on the 8th: 13:30-15:00 UTC.
        (utc(2026, 3, 9, 13, 30), utc(2026, 3, 9, 15, 0)),
        (utc(2026, 3, 9, 15, 30), None),
        # Friday 30 October (EDT) and Monday 2 November 2026 (back on EST since the 1st).
        (utc(2026, 10, 30, 13, 45), utc(2026, 10, 30, 15, 0)),
        (utc(2026, 11, 2, 13, 45), None),
        (utc(2026, 11, 2, 14, 45), utc(2026, 11, 2, 16, 0)),
        # Weekend: no window.
        (utc(2026, 3, 7, 14, 45), None),
        (utc(2026, 3, 8, 14, 45), None),
    ],
)
def test_weekday_window_keeps_its_local_hours_across_dst(ts, expected_end):
    assert until(NY_MORNING, ts) == expected_end


@pytest.mark.parametrize(
    ("window", "ts", "expected_end"),
    [
        ("mon-sun 23:00-01:00 UTC", utc(2026, 1, 1, 22, 59, 59), None),
        ("mon-sun 23:00-01:00 UTC", utc(2026, 1, 1, 23, 0), utc(2026, 1, 2, 1, 0)),
        ("mon-sun 23:00-01:00 UTC", utc(2026, 1, 2, 0, 30), utc(2026, 1, 2, 1, 0)),
        ("mon-sun 23:00-01:00 UTC", utc(2026, 1, 2, 1, 0), None),
        # Days name the day a window starts: Friday 23:00 to Saturday 01:00 only.
        ("fri 23:00-01:00 UTC", utc(2026, 1, 3, 0, 30), utc(2026, 1, 3, 1, 0)),  # Saturday
        ("fri 23:00-01:00 UTC", utc(2026, 1, 2, 0, 30), None),  # Friday morning
        ("fri 23:00-01:00 UTC", utc(2026, 1, 4, 0, 30), None),  # Sunday morning
        ("sat,sun 00:00-24:00 Europe/Berlin", utc(2026, 1, 3, 12, 0), utc(2026, 1, 3, 23, 0)),
        ("fri-mon 12:00-13:00 UTC", utc(2026, 1, 5, 12, 30), utc(2026, 1, 5, 13, 0)),  # Monday
        ("fri-mon 12:00-13:00 UTC", utc(2026, 1, 6, 12, 30), None),  # Tuesday
        # Overnight windows spanning a DST change are an hour longer (autumn) or shorter (spring).
        ("sat 22:00-03:00 America/New_York", utc(2026, 11, 1, 2, 0), utc(2026, 11, 1, 8, 0)),
        ("sat 22:00-03:00 America/New_York", utc(2026, 3, 8, 3, 0), utc(2026, 3, 8, 7, 0)),
        # A start in the skipped hour is the moment the clocks jump (03:00 EDT = 07:00 UTC).
        ("sun 02:30-03:30 America/New_York", utc(2026, 3, 8, 6, 59, 59), None),
        ("sun 02:30-03:30 America/New_York", utc(2026, 3, 8, 7, 0), utc(2026, 3, 8, 7, 30)),
        # A repeated hour is taken the first time it happens.
        ("sun 01:30-02:30 America/New_York", utc(2026, 11, 1, 5, 30), utc(2026, 11, 1, 7, 30)),
    ],
)
def test_midnight_day_rules_and_dst_edges(window, ts, expected_end):
    assert until(window, ts) == expected_end


def test_retry_after_spans_the_real_length_of_a_window_across_a_dst_change():
    clock = ManualClock(utc(2026, 11, 1, 2, 0))  # Saturday 22:00 EDT
    schedule = MaintenanceSchedule([RecurringWindow.parse("sat 22:00-03:00 America/New_York")], clock)
    assert schedule.retry_after() == 6 * 3600
    clock.advance(6 * 3600 - 0.5)
    assert schedule.retry_after() == 1
    clock.advance(0.5)
    assert schedule.retry_after() is None


def test_windows_that_touch_or_overlap_are_one_maintenance():
    clock = ManualClock(utc(2026, 1, 1, 9, 0))
    schedule = MaintenanceSchedule(
        [RecurringWindow.parse(w) for w in ("daily 09:00-10:00 UTC", "daily 10:00-10:30 UTC", "daily 10:15-11:00 UTC")],
        clock,
    )
    assert schedule.until() == utc(2026, 1, 1, 11, 0)
    schedule.start_now(3 * 3600)  # ad hoc until 12:00 covers everything
    assert schedule.until() == utc(2026, 1, 1, 12, 0)
    schedule.start_now(0)
    assert schedule.until() == utc(2026, 1, 1, 11, 0)


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("mon-fri 9:30 UTC", "expected"),
        ("someday 09:00-10:00 UTC", "unknown day"),
        ("mon 09:00-09:00 UTC", "same time"),
        ("mon 09:00-10:00 Mars/Olympus", "time zone"),
        ("mon 24:00-01:00 UTC", "bad time"),
        ("mon 09:60-10:00 UTC", "bad time"),
        ("mon-fri 09:00-10:00", "expected"),
    ],
)
def test_bad_windows_are_refused_with_a_reason(text, words):
    with pytest.raises(ValueError, match=words):
        RecurringWindow.parse(text)


def test_recurring_window_over_http_with_retry_after_counting_down():
    clock = ManualClock(utc(2026, 3, 9, 13, 29))  # Monday 09:29 EDT
    with stub_server(maintenance=[NY_MORNING], clock=clock) as stub, http_client(stub.base_url) as client:
        assert_receipt(post(client, body(1, 0)), 1)
        clock.set(utc(2026, 3, 9, 13, 30))
        r = post(client, body(1, 1))
        assert r.status_code == 503
        ERROR_ANSWER.validate(r.json())
        assert r.headers["retry-after"] == "5400"
        assert "2026-03-09T15:00:00.000Z" in r.json()["message"]
        clock.advance(1800.5)
        assert post(client, body(1, 1)).headers["retry-after"] == "3600"
        clock.set(utc(2026, 3, 9, 14, 59, 59) + 0.5)
        assert post(client, body(1, 1)).headers["retry-after"] == "1"
        # Everything but intake keeps working during maintenance.
        assert client.get("/healthz").json()["maintenance_until"] == "2026-03-09T15:00:00.000Z"
        assert stub.stats()["retry_after"] == 1
        assert stub.items()["total"] == 1
        clock.set(utc(2026, 3, 9, 15, 0))
        assert_receipt(post(client, body(1, 1)), 1)
        stats = stub.stats()
        assert stats["by_status"] == {"201": 2, "503": 3}
        assert stats["accepted_items"] == 2 and stats["retry_after"] is None


def test_admin_endpoint_starts_and_ends_a_window_now():
    clock = ManualClock()
    with stub_server(clock=clock) as stub, http_client(stub.base_url) as client:
        answer = stub.set_maintenance(30)
        assert answer["retry_after"] == 30
        assert post(client, body()).headers["retry-after"] == "30"
        clock.advance(10)
        assert post(client, body()).headers["retry-after"] == "20"
        assert client.get("/api/admin/maintenance").json()["retry_after"] == 20
        assert stub.set_maintenance(0) == {"maintenance_until": None, "retry_after": None}
        assert_receipt(post(client, body()), 3)
        stub.set_maintenance(5)
        clock.advance(5)
        assert_receipt(post(client, body(1, 10)), 1)  # the window ended by itself


@pytest.mark.parametrize("payload", [b"{}", b'{"seconds": -1}', b'{"seconds": "10"}', b'{"seconds": true}',
                                     b"not json", b'{"seconds": 1e12}', b"[5]"])
def test_admin_endpoint_refuses_bad_input(shared_client, payload):
    r = shared_client.post("/api/admin/maintenance", content=payload)
    assert r.status_code == 400 and "seconds" in r.json()["message"]
