"""What an intake answer means for a batch (INTERFACE §5). Pure: response in, decision out."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import Any

ALL_DUPLICATES = "all items in this submission are duplicates"


@dataclass(frozen=True)
class Decision:
    kind: str  # delivered | unavailable | unknown | reject_items | split | fail_batch | pause | retry_later
    status: int | None
    message: str
    receipt: str | None = None
    retry_after_s: float | None = None
    failures: dict[int, str] = field(default_factory=dict)  # 1-based position -> message
    pause_probe: bool = True  # while paused: probe now and then (credentials) or wait for a person


def _json(body: bytes) -> Any:
    try:
        return json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return None


def retry_after(value: str | None, now: float) -> float | None:
    """Seconds from a Retry-After header: delta-seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, when.timestamp() - now)


def receipt_of(body: bytes) -> str:
    data = _json(body)
    if isinstance(data, dict):
        for key in ("id", "submissionId", "reportId"):
            if data.get(key) not in (None, ""):
                return str(data[key])
    text = body.decode("utf-8", "replace").strip()
    return text[:4000] if text else "(empty answer)"


def _message(data: Any, fallback: str) -> str:
    if isinstance(data, dict):
        for key in ("message", "error", "detail", "title"):
            if isinstance(data.get(key), str) and data[key].strip():
                return data[key].strip()
        errors = data.get("errors")
        if isinstance(errors, list) and errors:
            first = errors[0]
            if isinstance(first, dict) and isinstance(first.get("message"), str):
                return first["message"]
            if isinstance(first, str):
                return first
    return fallback


def item_failures(data: Any, n_items: int, tracking_ids: Callable[[], list[str | None]]) -> dict[int, str]:
    """1-based positions named by item-scope errors (``indices``, or ``trackingIds`` as a fallback)."""
    failures: dict[int, str] = {}
    if not isinstance(data, dict) or not isinstance(data.get("errors"), list):
        return failures
    by_tracking: dict[str, int] | None = None
    for err in data["errors"]:
        if not isinstance(err, dict):
            continue
        msg = str(err.get("message") or "rejected by the intake")
        if err.get("field"):
            msg = f"{msg} (field {err['field']})"
        positions: list[int] = []
        indices = err.get("indices")
        if isinstance(indices, list):
            positions = [i for i in indices if isinstance(i, int) and not isinstance(i, bool) and 1 <= i <= n_items]
        elif isinstance(err.get("trackingIds"), list):
            if by_tracking is None:  # looked up only when an intake names items this way
                by_tracking = {t: i for i, t in enumerate(tracking_ids(), start=1) if t}
            positions = [by_tracking[t] for t in err["trackingIds"] if isinstance(t, str) and t in by_tracking]
        for pos in positions:
            failures[pos] = f"{failures[pos]}; {msg}" if pos in failures else msg
    return failures


def decide(status: int, body: bytes, headers: dict[str, str], *, now: float, n_items: int,
           tracking_ids: Callable[[], list[str | None]]) -> Decision:
    data = _json(body)
    reason = f"HTTP {status}"
    if 200 <= status < 300:
        return Decision("delivered", status, "delivered", receipt=receipt_of(body))
    if status in (429, 503):
        msg = "the intake is busy (429)" if status == 429 else "the intake is unavailable (503)"
        return Decision("unavailable", status, msg, retry_after_s=retry_after(headers.get("retry-after"), now))
    if status == 409:
        return Decision("retry_later", status, "the intake is still processing this batch (409)")
    if status in (401, 403):
        return Decision("pause", status, f"the intake rejected relay's credentials ({status}): "
                        "store a new one with `relay token set` or in Settings")
    if status == 410:
        return Decision("pause", status, "this sender has been retired at the intake (410): contact the intake's "
                        "administrators; sending stays paused until a person resumes it", pause_probe=False)
    if status == 413:
        return Decision("split", status, "the batch was too large for the intake (413)")
    if status in (400, 422):
        message = _message(data, reason)
        if status == 400 and ALL_DUPLICATES in body.decode("utf-8", "replace").lower():
            return Decision("delivered", status, "the intake already had every item", receipt=receipt_of(body))
        failures = item_failures(data, n_items, tracking_ids)
        if failures:
            return Decision("reject_items", status, message, failures=failures)
        if status == 422:
            return Decision("fail_batch", status, f"the intake refused the batch (422): {message}")
        return Decision("split", status, f"the intake refused the batch without naming items (400): {message}")
    if 500 <= status < 600:
        return Decision("unknown", status, f"the intake failed ({status}); outcome unknown, the same batch is retried")
    if 400 <= status < 500:
        return Decision("pause", status, f"the intake answered {status} ({_message(data, reason)}): "
                        "check intake.url and intake.format in the configuration")
    return Decision("unknown", status, f"unexpected answer {status} from the intake")
