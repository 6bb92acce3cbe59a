"""The status object: what `relay status --json`, the listener's /healthz and /metrics, the
heartbeat, the tray and the window all read.

``Status`` is the typed value; ``Status.to_json()`` is the JSON object of INTERFACE §1 and §11 (a
contract: its keys and values stay as they are). ``snapshot`` is the outbox's part of that JSON for
callers that want a dict; ``Status.assessed`` adds health (``relay.health``: disk facts, reasons).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal, cast

from relay.clock import iso
from relay.config import HealthConfig, MaintenanceWindow
from relay.delivery.maintenance import maintenance_until
from relay.events import SenderState
from relay.health import disk_facts, unhealthy_reasons
from relay.store.control import PAUSED_BY, PAUSED_PROBE, PAUSED_REASON, PROBLEMS, UNAVAILABLE_UNTIL
from relay.store.models import STATES, ItemState
from relay.store.roles import OutboxQueries
from relay.store.tallies import intake_requests

# The control keys are defined with the store (relay.store.control); named here too for older callers.
__all__ = ["IGNORED_FILES", "PAUSED_BY", "PAUSED_PROBE", "PAUSED_REASON", "PROBLEMS", "UNAVAILABLE_UNTIL", "PausedBy",
           "Status", "ignored_files", "read_status", "snapshot"]
IGNORED_FILES = "ignored_files:"  # + a watched folder: JSON list of the names there that match no pattern

PausedBy = Literal["person", "intake"]


def ignored_files(control: Mapping[str, str]) -> list[dict[str, str]]:
    """[{folder, name}] of files in watched folders that match no pattern (left where they are)."""
    out: list[dict[str, str]] = []
    for key in sorted(k for k in control if k.startswith(IGNORED_FILES)):
        folder = key[len(IGNORED_FILES):]
        out.extend({"folder": folder, "name": name} for name in json.loads(control[key]))
    return out


@dataclass(frozen=True)
class Status:
    """Counts, pause, maintenance and problems at one moment. Times are epoch seconds (None: none)."""

    by_state: Mapping[ItemState, int]
    duplicates: int
    files_processed: int
    files_rejected: int
    paused_by: PausedBy | None
    paused_reason: str | None
    maintenance_until: float | None  # a maintenance window, else the intake's Retry-After
    in_maintenance_window: bool
    intake_unavailable_until: float | None
    oldest_pending_at: float | None
    last_success_at: float | None
    problems: tuple[str, ...]
    now: float
    intake_requests: Mapping[str, int] = field(default_factory=dict)  # requests by outcome (§11)
    ignored_files: tuple[Mapping[str, str], ...] = ()  # {folder, name} matching no pattern (§3a)
    sender: SenderState | None = None  # only from a running agent
    # Health (INTERFACE §11), once ``assessed``: None before.
    disk_free_bytes: int | None = None
    outbox_bytes: int | None = None
    unhealthy_reasons: tuple[str, ...] | None = None

    @property
    def paused(self) -> bool:
        return self.paused_by is not None

    @property
    def healthy(self) -> bool | None:
        """True or False once assessed, None before."""
        return None if self.unhealthy_reasons is None else not self.unhealthy_reasons

    def count(self, state: ItemState) -> int:
        return self.by_state.get(state, 0)

    def assessed(self, outbox_path: Path, config: HealthConfig, now: float) -> Status:
        """With health: free disk, the outbox's size and why relay is not doing its job (if so)."""
        facts = disk_facts(outbox_path)
        reasons = unhealthy_reasons({**self.to_json(), **facts}, config, now)
        return replace(self, disk_free_bytes=facts["disk_free_bytes"], outbox_bytes=facts["outbox_bytes"],
                       unhealthy_reasons=tuple(reasons))

    def with_agent(self, problems: Sequence[str], sender: SenderState | None) -> Status:
        """As a running agent sees it: its own problems list (also when the outbox could not note
        it) and what its sender is doing."""
        return replace(self, problems=tuple(problems), sender=sender)

    def to_json(self) -> dict[str, Any]:
        """The JSON object of `relay status --json` and /healthz (INTERFACE §1), key for key."""
        out: dict[str, Any] = {
            **{state: self.count(state) for state in STATES},
            "duplicates": self.duplicates,
            "files_processed": self.files_processed,
            "files_rejected": self.files_rejected,
            "paused": self.paused,
            "paused_by": self.paused_by,
            "paused_reason": self.paused_reason,
            "maintenance_until": iso(self.maintenance_until),
            "in_maintenance_window": self.in_maintenance_window,
            "intake_unavailable_until": iso(self.intake_unavailable_until),
            "oldest_pending_at": iso(self.oldest_pending_at),
            "last_success_at": iso(self.last_success_at),
            "problems": list(self.problems),
            "intake_requests": dict(self.intake_requests),
            "ignored_files": [dict(f) for f in self.ignored_files],
            "now": iso(self.now),
        }
        if self.sender is not None:
            out["sender"] = {"state": self.sender.state, "reason": self.sender.reason, "until": self.sender.until}
        if self.unhealthy_reasons is not None:
            out.update(disk_free_bytes=self.disk_free_bytes, outbox_bytes=self.outbox_bytes, healthy=self.healthy,
                       unhealthy_reasons=list(self.unhealthy_reasons))
        return out


def _paused_by(value: str | None) -> PausedBy | None:
    if value in ("person", "intake"):
        return cast(PausedBy, value)
    return None if value is None else "person"  # an unknown writer's pause still holds sending


def read_status(outbox: OutboxQueries, windows: Sequence[MaintenanceWindow], now: float) -> Status:
    """The status as the outbox and the maintenance windows say it now (one consistent read)."""
    counts = outbox.counts()
    control = counts.control
    window_until = until = maintenance_until(windows, now)
    unavailable = float(control[UNAVAILABLE_UNTIL]) if control.get(UNAVAILABLE_UNTIL) else None
    if unavailable is not None and unavailable <= now:
        unavailable = None
    if until is None and unavailable is not None:
        until = unavailable
    paused_by = _paused_by(control.get(PAUSED_BY))
    return Status(
        by_state={state: counts.by_state.get(state, 0) for state in STATES},
        duplicates=counts.duplicates,
        files_processed=counts.files_processed,
        files_rejected=counts.files_rejected,
        paused_by=paused_by,
        paused_reason=control.get(PAUSED_REASON) if paused_by else None,
        maintenance_until=until,
        in_maintenance_window=window_until is not None,
        intake_unavailable_until=unavailable,
        oldest_pending_at=counts.oldest_pending_at,
        last_success_at=counts.last_success_at,
        problems=tuple(json.loads(control[PROBLEMS])) if control.get(PROBLEMS) else (),
        now=now,
        intake_requests=intake_requests(control),
        ignored_files=tuple(ignored_files(control)),
    )


def snapshot(outbox: OutboxQueries, windows: Sequence[MaintenanceWindow], now: float) -> dict[str, Any]:
    """``read_status(...).to_json()``: the status JSON as a dict."""
    return read_status(outbox, windows, now).to_json()
