"""Known intake maintenance windows (zoneinfo; correct across DST and midnight)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from relay.config import MaintenanceWindow


def _at(day: datetime, t: time | None, tz: ZoneInfo) -> datetime:
    if t is None:  # 24:00
        base = datetime(day.year, day.month, day.day, tzinfo=tz) + timedelta(days=1)
        return datetime(base.year, base.month, base.day, tzinfo=tz)
    return datetime(day.year, day.month, day.day, t.hour, t.minute, tzinfo=tz)


def _window_end(window: MaintenanceWindow, now: float) -> float | None:
    """If ``now`` is inside one occurrence of the window, the end of that occurrence."""
    tz = ZoneInfo(window.timezone)
    local = datetime.fromtimestamp(now, tz)
    crosses = window.end is not None and window.end <= window.start
    for back in (0, 1):
        day = local - timedelta(days=back)
        if day.weekday() not in window.days:
            continue
        start = _at(day, window.start, tz)
        end_day = day + timedelta(days=1) if crosses else day
        end = _at(end_day, window.end, tz)
        if start.timestamp() <= now < end.timestamp():
            return end.timestamp()
    return None


def maintenance_until(windows: Sequence[MaintenanceWindow], now: float) -> float | None:
    """End of the maintenance period covering ``now`` (adjacent windows chained), else None."""
    until: float | None = None
    probe = now
    for _ in range(len(windows) * 2 + 1):
        ends = [e for e in (_window_end(w, probe) for w in windows) if e is not None]
        if not ends:
            break
        until = max(ends)
        probe = until
    return until
