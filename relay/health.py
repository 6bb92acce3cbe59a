"""Health that tells the truth (INTERFACE §11): why relay is not doing its job, in plain words.

``unhealthy_reasons`` is a pure function of (status, config, now), so its rules are tested to the
second with an injected clock. ``assess`` adds what the status object needs for it (free disk, the
outbox's size) and the verdict; `relay status`, the listener's /healthz, the heartbeat and the tray
all show the same reasons. A reason about a pause or a problem is worded as the tray words it, so
the tray shows each once.
"""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from relay.config import HealthConfig

log = logging.getLogger("relay")

MIB = 1024 * 1024


def _time(value: Any) -> float | None:
    if value is None or value == "":
        return None
    if isinstance(value, (int, float)):
        return float(value)
    return datetime.fromisoformat(str(value)).timestamp()


def _span(seconds: float) -> str:
    s = max(0, int(seconds))
    if s < 120:
        return f"{s} s"
    if s < 2 * 3600:  # seconds too, so a limit just passed reads as passed ("60 min 1 s")
        return f"{s // 60} min {s % 60} s" if s % 60 else f"{s // 60} min"
    if s < 2 * 86400:
        return f"{s // 3600} h {s % 3600 // 60} min"
    return f"{s // 86400} days {s % 86400 // 3600} h"


def unhealthy_reasons(status: Mapping[str, Any], config: HealthConfig, now: float) -> list[str]:
    """Why relay is unhealthy (empty: healthy). ``status`` is the status object (relay.status
    snapshot plus ``disk_free_bytes``); ``now`` is epoch seconds."""
    reasons: list[str] = []
    if status.get("paused") and status.get("paused_by") == "intake":
        reasons.append(f"Sending is paused: {status.get('paused_reason') or 'the intake refused relay'}")
    reasons += [str(p) for p in status.get("problems") or ()]
    free = status.get("disk_free_bytes")
    if isinstance(free, int) and free < config.disk_reserve_bytes:
        reasons.append(f"The outbox's disk has {free / MIB:,.0f} MB free, under the reserve of "
                       f"{config.disk_reserve_bytes / MIB:,.0f} MB")
    waiting = int(status.get("pending") or 0) + int(status.get("sending") or 0)
    oldest = _time(status.get("oldest_pending_at"))
    if waiting and oldest is not None:
        age = now - oldest
        if age > config.max_pending_age_s:
            reasons.append(f"The oldest pending result has waited {_span(age)}, longer than "
                           f"{_span(config.max_pending_age_s)}")
        last = _time(status.get("last_success_at"))
        since = oldest if last is None or last < oldest else last
        silence = now - since
        if silence > config.max_silence_s:
            what = "since the oldest pending result came" if since == oldest else "while results are pending"
            reasons.append(f"Nothing delivered for {_span(silence)} {what} (limit {_span(config.max_silence_s)})")
    return reasons


def disk_facts(outbox_path: Path) -> dict[str, int | None]:
    """Free space on the outbox's disk and the outbox's size on disk (database and its WAL)."""
    try:
        free: int | None = shutil.disk_usage(outbox_path.parent).free
    except OSError as exc:
        log.debug("free disk space unknown: %s", exc)
        free = None
    size = 0
    for suffix in ("", "-wal", "-shm"):
        try:
            size += os.stat(f"{outbox_path}{suffix}").st_size
        except OSError:
            continue
    return {"disk_free_bytes": free, "outbox_bytes": size}


def assess(status: dict[str, Any], outbox_path: Path, config: HealthConfig, now: float) -> dict[str, Any]:
    """The status object completed: disk facts, ``unhealthy_reasons`` and ``healthy``."""
    status.update(disk_facts(outbox_path))
    reasons = unhealthy_reasons(status, config, now)
    status["healthy"] = not reasons
    status["unhealthy_reasons"] = reasons
    return status
