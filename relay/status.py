"""The status object: what `relay status --json`, the listener's /healthz and the tray all show."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from relay.clock import iso
from relay.config import MaintenanceWindow
from relay.delivery.maintenance import maintenance_until
from relay.store.control import PAUSED_BY, PAUSED_PROBE, PAUSED_REASON, PROBLEMS, UNAVAILABLE_UNTIL
from relay.store.models import STATES
from relay.store.outbox import Outbox
from relay.store.tallies import intake_requests

# The control keys are defined with the store (relay.store.control); named here too for older callers.
__all__ = ["IGNORED_FILES", "PAUSED_BY", "PAUSED_PROBE", "PAUSED_REASON", "PROBLEMS", "UNAVAILABLE_UNTIL",
           "ignored_files", "snapshot"]
IGNORED_FILES = "ignored_files:"  # + a watched folder: JSON list of the names there that match no pattern


def ignored_files(control: dict[str, str]) -> list[dict[str, str]]:
    """[{folder, name}] of files in watched folders that match no pattern (left where they are)."""
    out: list[dict[str, str]] = []
    for key in sorted(k for k in control if k.startswith(IGNORED_FILES)):
        folder = key[len(IGNORED_FILES):]
        out.extend({"folder": folder, "name": name} for name in json.loads(control[key]))
    return out


def snapshot(outbox: Outbox, windows: Sequence[MaintenanceWindow], now: float) -> dict[str, Any]:
    counts = outbox.counts()
    control = counts.control
    window_until = until = maintenance_until(windows, now)
    unavailable = float(control[UNAVAILABLE_UNTIL]) if control.get(UNAVAILABLE_UNTIL) else None
    if unavailable is not None and unavailable <= now:
        unavailable = None
    if until is None and unavailable is not None:
        until = unavailable
    paused_by = control.get(PAUSED_BY)
    return {
        **{state: counts.by_state[state] for state in STATES},
        "duplicates": counts.duplicates,
        "files_processed": counts.files_processed,
        "files_rejected": counts.files_rejected,
        "paused": paused_by is not None,
        "paused_by": paused_by,
        "paused_reason": control.get(PAUSED_REASON) if paused_by else None,
        "maintenance_until": iso(until),
        "in_maintenance_window": window_until is not None,
        "intake_unavailable_until": iso(unavailable),
        "oldest_pending_at": iso(counts.oldest_pending_at),
        "last_success_at": iso(counts.last_success_at),
        "problems": json.loads(control[PROBLEMS]) if control.get(PROBLEMS) else [],
        "intake_requests": intake_requests(control),
        "ignored_files": ignored_files(control),
        "now": iso(now),
    }
