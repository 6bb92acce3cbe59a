"""When to tell a person something: one notification per incident, never one per retry.

An incident opens when something goes wrong (the intake rejected results, refused the
credentials, a folder vanished, nothing was delivered for an hour while results wait) and closes
when it is over (the failed results were dealt with, sending resumed, the folder is back, a
delivery happened). Only the opening is announced. Pure Python: fed the core's events and the
status object, with the time passed in.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from relay.events import Event, ItemsFailed
from relay.ui.status_text import count, duration, parse_time


def _spoken(seconds: float) -> str:
    """'1 hour', '2 hours', '30 minutes' for the notification title."""
    if seconds >= 3600 and seconds % 3600 == 0:
        return count(int(seconds // 3600), "hour")
    if seconds >= 60 and seconds % 60 == 0:
        return count(int(seconds // 60), "minute")
    return duration(seconds)

WARNING = "warning"
CRITICAL = "critical"


@dataclass(frozen=True)
class Notice:
    key: str
    title: str
    text: str
    level: str = WARNING


@dataclass
class _Rejections:
    opened_at: float
    last_at: float
    count: int
    reason: str
    announced: bool = False


class IncidentTracker:
    def __init__(self, *, stall_after_s: float = 3600.0, settle_s: float = 5.0) -> None:
        self.stall_after_s = stall_after_s
        self.settle_s = settle_s  # rejections arriving together (one file, several batches) are one incident
        self._open: set[str] = set()
        self._rejections: _Rejections | None = None
        self._dead: int | None = None  # dead count seen last; None until the first observation
        self._started_at: float | None = None
        self._held_at: float | None = None

    @property
    def open_incidents(self) -> frozenset[str]:
        return frozenset(self._open | ({"rejected"} if self._rejections else set()))

    def on_event(self, event: Event, now: float) -> None:
        if isinstance(event, ItemsFailed) and event.count > 0:
            r = self._rejections
            if r is None:
                self._rejections = _Rejections(now, now, event.count, event.reason)
            else:
                r.count += event.count
                r.last_at = now

    def observe(self, stats: dict[str, Any], now: float) -> list[Notice]:
        """Look at the current status; returns what to announce now (usually nothing)."""
        if self._started_at is None:
            self._started_at = now
        notices: list[Notice] = []
        notices += self._rejected(stats, now)
        notices += self._dead_letters(stats)
        notices += self._conditions(stats, now)
        return notices

    # -- rejections: counted from the events, closed when no failed item is left -------------

    def _rejected(self, stats: dict[str, Any], now: float) -> list[Notice]:
        r = self._rejections
        if r is None:
            return []
        out = []
        if not r.announced and now >= r.opened_at + self.settle_s:
            r.announced = True
            if stats.get("failed", 0) == 0:  # a person dealt with them before the notice was due
                self._rejections = None
                return []
            # The event's reason may be the intake's words for the whole request ("4 of 8 items are
            # invalid; nothing was stored") although relay then delivered the valid ones: the
            # words the intake gave for a rejected item are what is true of the rejected results.
            why = stats.get("failed_reason") or r.reason
            out.append(Notice("rejected", f"The intake rejected {count(r.count, 'result')}",
                              f"{why}\nOpen the queue (Failed) to correct and retry them."))
        if r.announced and stats.get("failed", 0) == 0 and now >= r.last_at + self.settle_s:
            self._rejections = None
        return out

    def _dead_letters(self, stats: dict[str, Any]) -> list[Notice]:
        dead = int(stats.get("dead", 0))
        before, self._dead = self._dead, dead
        if dead == 0:
            self._open.discard("dead")
            return []
        if before is None or dead <= before or "dead" in self._open:
            return []
        self._open.add("dead")
        return [Notice("dead", f"{count(dead - before, 'result')} not delivered in time",
                       "They were given up after the expiry time and are kept in the dead-letter view; "
                       "requeue them once the cause is fixed.")]

    # -- conditions that are either there or not ------------------------------------------------

    def _conditions(self, stats: dict[str, Any], now: float) -> list[Notice]:
        active: dict[str, Notice] = {}
        if stats.get("paused") and stats.get("paused_by") == "intake":
            why = str(stats.get("paused_reason") or "the intake refused relay")
            low = why.lower()
            if "credential" in low:
                title = "Credentials rejected" if "rejected" in low else "No credential stored"
            elif "retired" in low:
                title = "This sender was retired at the intake"
            else:
                title = "Sending paused by the intake"
            active[f"paused:{title}"] = Notice(f"paused:{title}", title, why, CRITICAL)
        for problem in stats.get("problems") or ():
            key = f"problem:{problem}"
            active[key] = Notice(key, "relay needs attention", str(problem), CRITICAL)
        if stats.get("files_attention"):
            active["files"] = Notice("files", "Some files could not be used", str(stats["files_attention"]))
        stalled = self._stalled(stats, now)
        if stalled is not None:
            active["stalled"] = stalled
        out = [n for key, n in active.items() if key not in self._open]
        kept = {k for k in self._open if k == "dead"}
        self._open = kept | set(active)
        return out

    def _stalled(self, stats: dict[str, Any], now: float) -> Notice | None:
        waiting = stats.get("pending", 0) + stats.get("sending", 0)
        if stats.get("paused") or stats.get("in_maintenance_window"):
            self._held_at = now  # sending was held on purpose: the hour counts from when it ends
            return None
        if not waiting:
            return None
        marks = [parse_time(stats.get("last_success_at")), parse_time(stats.get("oldest_pending_at")),
                 self._started_at, self._held_at]
        since = max(m for m in marks if m is not None)
        if now - since < self.stall_after_s:
            return None
        return Notice("stalled", f"No delivery for {_spoken(self.stall_after_s)}",
                      f"{count(waiting, 'result')} waiting; relay keeps trying. Check the network and the "
                      "intake's status.")
