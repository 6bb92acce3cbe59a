from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from relay.config import from_dict
from relay.delivery.maintenance import maintenance_until

NY = ZoneInfo("America/New_York")


def windows(*specs):
    return from_dict({"maintenance": [dict(zip(("days", "start", "end", "timezone"), s)) for s in specs]}, None).maintenance


def ts(*args, tz=NY):
    return datetime(*args, tzinfo=tz).timestamp()


def test_weekday_window_in_new_york():
    w = windows(("mon-fri", "09:30", "11:00", "America/New_York"))
    assert maintenance_until(w, ts(2026, 11, 23, 9, 29)) is None  # Monday 09:29
    assert maintenance_until(w, ts(2026, 11, 23, 9, 30)) == ts(2026, 11, 23, 11, 0)
    assert maintenance_until(w, ts(2026, 11, 23, 11, 0)) is None
    assert maintenance_until(w, ts(2026, 11, 22, 10, 0)) is None  # Sunday


def test_window_across_midnight():
    w = windows(("fri", "23:00", "01:00", "UTC"))
    utc = ZoneInfo("UTC")
    assert maintenance_until(w, ts(2026, 11, 27, 23, 30, tz=utc)) == ts(2026, 11, 28, 1, 0, tz=utc)
    assert maintenance_until(w, ts(2026, 11, 28, 0, 30, tz=utc)) == ts(2026, 11, 28, 1, 0, tz=utc)  # Saturday
    assert maintenance_until(w, ts(2026, 11, 29, 0, 30, tz=utc)) is None  # Sunday: Saturday has no window


@pytest.mark.parametrize("day", [8, 1])  # 2026-03-08 spring forward, 2026-11-01 fall back
def test_dst_days_keep_wall_clock_times(day):
    month = 3 if day == 8 else 11
    w = windows(("sun", "01:00", "04:00", "America/New_York"))
    start = ts(2026, month, day, 1, 0)
    end = ts(2026, month, day, 4, 0)
    assert maintenance_until(w, start) == end
    hours = (end - start) / 3600
    assert hours == (2 if month == 3 else 4)  # an hour shorter / longer in real time


def test_adjacent_windows_chain_and_24_00():
    w = windows(("mon-sun", "22:00", "24:00", "UTC"), ("mon-sun", "00:00", "02:00", "UTC"))
    utc = ZoneInfo("UTC")
    assert maintenance_until(w, ts(2026, 11, 23, 23, 0, tz=utc)) == ts(2026, 11, 24, 2, 0, tz=utc)
