"""Plain words for what relay is doing: the tray's look, its tooltip, the window's summary line,
each item's reason, and times. Pure functions over the status object (no Qt), so they are tested
to the second and shared by the tray and the window.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from typing import Any

# The four looks of the tray icon, from calm to loud.
DELIVERED = "delivered"
SENDING = "sending"
WAITING = "waiting"
ATTENTION = "attention"

STATE_LABELS = {
    "pending": "Pending",
    "sending": "Sending",
    "sent": "Sent",
    "failed": "Failed",
    "dead": "Dead-letter",
    "discarded": "Discarded",
}


@dataclass(frozen=True)
class Look:
    kind: str  # DELIVERED | SENDING | WAITING | ATTENTION
    headline: str  # one short sentence: what is going on
    details: tuple[str, ...] = field(default=())  # further lines, most important first


def parse_time(value: str | float | None) -> float | None:
    """Epoch seconds from the status object's ISO-8601 strings (or a number already)."""
    if value is None or value == "":
        return None
    if isinstance(value, (int, float)):
        return float(value)
    return datetime.fromisoformat(value).timestamp()


def count(n: int, one: str, many: str | None = None) -> str:
    return f"{n:,} {one if n == 1 else (many or one + 's')}"


def duration(seconds: float) -> str:
    """'45 s', '12 min', '3 h 12 min', '2 days 4 h'."""
    s = max(0, int(seconds))
    if s < 60:
        return f"{s} s"
    m = s // 60
    if m < 60:
        return f"{m} min"
    h, m = divmod(m, 60)
    if h < 48:
        return f"{h} h {m} min" if m else f"{h} h"
    d, h = divmod(h, 24)
    return f"{d} days {h} h" if h else f"{d} days"


def ago(ts: float, now: float) -> str:
    delta = now - ts
    if delta < 45:
        return "just now"
    return f"{duration(delta)} ago"


def clock(ts: float, now: float, tz: tzinfo | None = None) -> str:
    """A moment as a person reads it: '14:03' today, 'Mon 14:03' within a week, else the date."""
    when = datetime.fromtimestamp(ts, tz).astimezone(tz)
    today = datetime.fromtimestamp(now, tz).astimezone(tz)
    if when.date() == today.date():
        return when.strftime("%H:%M")
    if abs((when.date() - today.date()).days) < 6:
        return when.strftime("%a %H:%M")
    return when.strftime("%Y-%m-%d %H:%M")


def stamp(ts: float | None, tz: tzinfo | None = None) -> str:
    """A table cell time: always the full local date and minute, so rows compare at a glance."""
    if ts is None:
        return ""
    return datetime.fromtimestamp(ts, tz).astimezone(tz).strftime("%Y-%m-%d %H:%M")


def next_attempt(state: str, at: float | None, now: float, tz: tzinfo | None = None) -> str:
    if state != "pending" or at is None:
        return ""
    if at <= now + 1:
        return "now"
    return f"in {duration(at - now)} ({clock(at, now, tz)})"


def short_reason(state: str, last_error: str | None, attempts: int, forced: bool = False) -> str:
    """The reason for a table cell: the first clause (the rest is in the tooltip and the detail).
    In the Failed, Dead-letter and Discarded views the state goes without saying: the cell is the
    cause (for a discarded result, why it had failed before a person set it aside)."""
    err = (last_error or "").strip()
    if state in ("failed", "dead", "discarded") and err:
        text = err[0].upper() + err[1:]
    else:
        text = reason(state, last_error, attempts, forced)
    return text.split("; ", 1)[0]


def reason(state: str, last_error: str | None, attempts: int, forced: bool = False) -> str:
    """Why an item is where it is, in words a person can act on."""
    err = (last_error or "").strip()
    if state == "pending":
        if err:
            return f"Will try again: {err}"
        return "Waiting to be sent again on purpose" if forced else "Waiting to be sent"
    if state == "sending":
        return "Being sent now"
    if state == "sent":
        return "Delivered (sent again on purpose)" if forced else "Delivered"
    if state == "failed":
        return f"Rejected by the intake: {err}" if err else "Rejected by the intake"
    if state == "dead":
        return f"Given up: {err}" if err else "Given up"
    if state == "discarded":
        text = "Discarded by a person: will not be sent"
        return f"{text} (it had failed: {err})" if err else text
    return err


def _sender(stats: dict[str, Any]) -> dict[str, Any]:
    s = stats.get("sender")
    return s if isinstance(s, dict) else {}


def conditions(stats: dict[str, Any], tz: tzinfo | None = None) -> list[tuple[str, str]]:
    """Everything worth saying beyond the counts, as (look, sentence), loudest first.

    ``stats`` is ``relay.status.snapshot`` plus ``sender`` (the sender's state), ``running``
    (False while the agent starts) and ``no_intake`` (True when intake.url is not set).
    """
    now = parse_time(stats.get("now")) or 0.0
    waiting = stats.get("pending", 0) + stats.get("sending", 0)
    failed, dead = stats.get("failed", 0), stats.get("dead", 0)
    sender = _sender(stats)
    out: list[tuple[str, str]] = []
    if stats.get("paused") and stats.get("paused_by") == "intake":
        out.append((ATTENTION, f"Sending is paused: {stats.get('paused_reason') or 'the intake refused relay'}"))
    for problem in stats.get("problems") or ():
        out.append((ATTENTION, str(problem)))
    if failed or dead:
        parts = ([f"{failed:,} rejected by the intake"] if failed else []) + (
            [f"{dead:,} not delivered in time"] if dead else [])
        verb = "needs" if failed + dead == 1 else "need"
        out.append((ATTENTION, f"{count(failed + dead, 'result')} {verb} a person: {', '.join(parts)}"))
    if stats.get("files_attention"):  # rejected files or rows a person has not looked at yet
        out.append((ATTENTION, str(stats["files_attention"])))
    shown = {text for _, text in out}  # health's reasons for a pause or a problem are worded as above
    out += [(ATTENTION, str(r)) for r in stats.get("unhealthy_reasons") or () if str(r) not in shown]
    if stats.get("no_intake") and stats.get("running", True):
        out.append((ATTENTION, "Not sending: no intake address is set (Settings)"))
    if not stats.get("running", True):
        out.append((WAITING, "Starting: opening the outbox"))
    if stats.get("paused") and stats.get("paused_by") != "intake":
        out.append((WAITING, f"Sending paused by a person ({stats.get('paused_reason') or 'no reason given'})"))
    unavailable = parse_time(stats.get("intake_unavailable_until"))
    maintenance = parse_time(stats.get("maintenance_until"))
    if stats.get("in_maintenance_window") and maintenance:
        out.append((WAITING, f"Intake maintenance until {clock(maintenance, now, tz)}"))
    elif unavailable and unavailable > now:
        out.append((WAITING, f"The intake asked relay to wait until {clock(unavailable, now, tz)}"))
    elif waiting and sender.get("state") == "waiting":
        until = sender.get("until")
        when = f" Next try {clock(until, now, tz)}." if until else ""
        text = (sender.get("reason") or "waiting").rstrip(".")
        out.append((WAITING, f"Waiting: {text}.{when}"))
    return out


def look(stats: dict[str, Any], tz: tzinfo | None = None) -> Look:
    """The tray's look and words. Attention wins over waiting, waiting over sending, sending over
    delivered."""
    found = conditions(stats, tz)
    for kind in (ATTENTION, WAITING):
        lines = [text for k, text in found if k == kind]
        if lines:
            return Look(kind, lines[0], tuple(lines[1:]))
    waiting = stats.get("pending", 0) + stats.get("sending", 0)
    if waiting:
        return Look(SENDING, f"Sending {count(waiting, 'result')}")
    if not stats.get("sent"):
        return Look(DELIVERED, "Nothing to send yet")
    return Look(DELIVERED, "All results delivered")


def last_delivery(stats: dict[str, Any], tz: tzinfo | None = None) -> str:
    now = parse_time(stats.get("now")) or 0.0
    last = parse_time(stats.get("last_success_at"))
    if last is None:
        return "never"
    return f"{clock(last, now, tz)} ({ago(last, now)})"


def tooltip(stats: dict[str, Any], tz: tzinfo | None = None) -> str:
    """Short (some systems cut tooltips near 128 characters): headline, counts, last delivery."""
    lk = look(stats, tz)
    counts = (f"{stats.get('pending', 0) + stats.get('sending', 0):,} waiting · {stats.get('failed', 0):,} failed"
              f" · {stats.get('dead', 0):,} dead-letter")
    return f"relay: {lk.headline}\n{counts}\nLast delivery: {last_delivery(stats, tz)}"


def summary(stats: dict[str, Any], tz: tzinfo | None = None) -> tuple[str, list[tuple[str, str]]]:
    """The window's top line (counts and times) and the conditions to read below it (pauses,
    maintenance, problems; the per-item counts are already in the line)."""
    now = parse_time(stats.get("now")) or 0.0
    waiting = stats.get("pending", 0) + stats.get("sending", 0)
    parts: list[str] = []
    if waiting:
        oldest = parse_time(stats.get("oldest_pending_at"))
        age = f", oldest {duration(now - oldest)}" if oldest is not None else ""
        parts.append(f"{count(waiting, 'result')} waiting{age}")
    else:
        parts.append("Nothing waiting")
    parts.append(f"last delivery {last_delivery(stats, tz)}")
    parts.append(f"{stats.get('sent', 0):,} delivered in all")
    return " · ".join(parts), conditions(stats, tz)
