"""Maintenance windows: recurring ones from the command line plus one started on demand.

A recurring window is written ``DAYS HH:MM-HH:MM ZONE``, e.g. ``mon-fri 09:30-11:00 America/New_York``.
Days are a comma-separated list of days or ranges (``mon-fri``, ``sat,sun``, ``fri-mon``, ``daily``);
they name the day a window *starts*, so ``mon-sun 23:00-01:00 UTC`` runs from 23:00 each day to
01:00 the next. Local times are turned into instants with zoneinfo on the day in question, so a
window keeps its local hours across DST changes (a window spanning a change is an hour longer or
shorter in real time; a start or end inside the skipped hour is the moment the clocks jump). All
comparisons are made on epoch seconds, never on wall times.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from server_stub.clock import Clock

_DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_FULL_NAMES = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
# Chained windows are followed this far at most when working out when maintenance really ends.
_MAX_CHAIN = 64


def _day(name: str) -> int:
    name = name.strip()
    for i, short in enumerate(_DAY_NAMES):
        if name in (short, _FULL_NAMES[i]):
            return i
    raise ValueError(f"unknown day {name!r} (use mon..sun, ranges like mon-fri, lists like sat,sun)")


def _parse_days(text: str) -> frozenset[int]:
    text = text.strip().lower()
    if text in ("daily", "*"):
        return frozenset(range(7))
    days: set[int] = set()
    for part in text.split(","):
        first, sep, last = part.partition("-")
        a = _day(first)
        b = _day(last) if sep else a
        i = a
        while True:  # ranges may wrap: fri-mon is fri, sat, sun, mon
            days.add(i)
            if i == b:
                break
            i = (i + 1) % 7
    return frozenset(days)


def _parse_hhmm(text: str, *, allow_24: bool) -> tuple[int, int]:
    hh, sep, mm = text.strip().partition(":")
    if not sep or not hh.isdigit() or not mm.isdigit() or len(mm) != 2:
        raise ValueError(f"bad time {text!r} (use HH:MM)")
    h, m = int(hh), int(mm)
    if (h, m) == (24, 0) and allow_24:
        return h, m
    if not (0 <= h <= 23 and 0 <= m <= 59):
        raise ValueError(f"bad time {text!r} (hours 00-23, minutes 00-59)")
    return h, m


def _instant(local: datetime, zone: ZoneInfo) -> float:
    """Epoch seconds of a wall time in a zone. A time that happens twice (clocks going back) is
    taken the first time; a time that never happens (clocks going forward) is taken as the moment
    the clocks jump, the first moment at or after it on the wall."""
    first = local.replace(tzinfo=zone, fold=0).timestamp()
    if datetime.fromtimestamp(first, zone).replace(tzinfo=None) == local:
        return first
    other = local.replace(tzinfo=zone, fold=1).timestamp()
    lo, hi = min(first, other), max(first, other)  # the jump lies between the two readings
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if datetime.fromtimestamp(mid, zone).replace(tzinfo=None) >= local:
            hi = mid
        else:
            lo = mid
    return hi


@dataclass(frozen=True)
class RecurringWindow:
    """A weekly maintenance window in a time zone."""

    days: frozenset[int]  # 0 = Monday
    start: tuple[int, int]
    end: tuple[int, int]  # (24, 0) means midnight at the end of the start day
    zone: ZoneInfo
    text: str = ""

    @classmethod
    def parse(cls, text: str) -> RecurringWindow:
        parts = text.split()
        if len(parts) != 3 or "-" not in parts[1]:
            raise ValueError(f"maintenance window {text!r}: expected 'DAYS HH:MM-HH:MM ZONE'")
        days_text, span, zone_name = parts
        start_text, _, end_text = span.partition("-")
        try:
            days = _parse_days(days_text)
            start = _parse_hhmm(start_text, allow_24=False)
            end = _parse_hhmm(end_text, allow_24=True)
        except ValueError as exc:
            raise ValueError(f"maintenance window {text!r}: {exc}") from None
        if start == end:
            raise ValueError(f"maintenance window {text!r}: start and end are the same time")
        try:
            zone = ZoneInfo(zone_name)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"maintenance window {text!r}: unknown time zone {zone_name!r}") from None
        return cls(days=days, start=start, end=end, zone=zone, text=text)

    def _bounds(self, day: date) -> tuple[float, float]:
        start = _instant(datetime.combine(day, time(*self.start)), self.zone)
        if self.end == (24, 0):
            end_local = datetime.combine(day + timedelta(days=1), time(0, 0))
        elif self.end > self.start:
            end_local = datetime.combine(day, time(*self.end))
        else:
            end_local = datetime.combine(day + timedelta(days=1), time(*self.end))
        return start, _instant(end_local, self.zone)

    def active_until(self, ts: float) -> float | None:
        """The end (epoch seconds) of the occurrence covering ``ts``, or None outside the window."""
        today = datetime.fromtimestamp(ts, tz=self.zone).date()
        # A window lasts at most a day, so only occurrences starting yesterday or today can cover ts.
        for day in (today - timedelta(days=1), today):
            if day.weekday() not in self.days:
                continue
            start, end = self._bounds(day)
            if start <= ts < end:
                return end
        return None


class MaintenanceSchedule:
    """Recurring windows plus an ad-hoc window (``POST /api/admin/maintenance``), read via a clock."""

    def __init__(self, windows: tuple[RecurringWindow, ...] | list[RecurringWindow], clock: Clock) -> None:
        self._windows = tuple(windows)
        self._clock = clock
        self._adhoc: tuple[float, float] | None = None
        self._lock = threading.Lock()

    @property
    def windows(self) -> tuple[RecurringWindow, ...]:
        return self._windows

    def start_now(self, seconds: float) -> float | None:
        """Start a window lasting ``seconds`` from now; 0 ends the ad-hoc window. Returns its end."""
        now = self._clock.now()
        with self._lock:
            self._adhoc = (now, now + seconds) if seconds > 0 else None
            return self._adhoc[1] if self._adhoc else None

    def _end_at(self, ts: float) -> float | None:
        ends = [e for e in (w.active_until(ts) for w in self._windows) if e is not None]
        with self._lock:
            adhoc = self._adhoc
        if adhoc is not None and adhoc[0] <= ts < adhoc[1]:
            ends.append(adhoc[1])
        return max(ends) if ends else None

    def until(self, now: float | None = None) -> float | None:
        """When maintenance ends if it is on at ``now`` (default: the clock), following windows
        that overlap or follow each other without a gap; None when not in maintenance."""
        ts = self._clock.now() if now is None else now
        end = self._end_at(ts)
        if end is None:
            return None
        for _ in range(_MAX_CHAIN):
            later = self._end_at(end)
            if later is None or later <= end:
                break
            end = later
        return end

    def retry_after(self, now: float | None = None) -> int | None:
        """Whole seconds until maintenance ends (at least 1), or None when not in maintenance."""
        ts = self._clock.now() if now is None else now
        end = self.until(ts)
        if end is None:
            return None
        return max(1, math.ceil(end - ts))
