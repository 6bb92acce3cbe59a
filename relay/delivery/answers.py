"""What an intake answer means for a batch (INTERFACE §5). Pure: response in, decision out."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import Any

ALL_DUPLICATES = "all items in this submission are duplicates"
ITEM_IS_A_DUPLICATE = "item is a duplicate."  # ReportStream's item-scope message for a row it already holds
ALREADY_HELD = "already at the intake"  # the receipt note of such an item
MAX_MESSAGE = 500  # an intake's message quoted in a reason


@dataclass(frozen=True)
class Decision:
    kind: str  # delivered | unavailable | unknown | reject_items | split | fail_batch | pause | retry_later
    status: int | None
    message: str
    receipt: str | None = None
    retry_after_s: float | None = None
    failures: dict[int, str] = field(default_factory=dict)  # 1-based position -> message
    pause_probe: bool = True  # while paused: probe now and then (credentials) or wait for a person
    held: tuple[int, ...] = ()  # reject_items: 1-based positions the intake already holds (delivered)


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


def _plain(body: bytes) -> str:
    """A plain-text answer as one line, cut to a readable length."""
    text = " ".join(body.decode("utf-8", "replace").split())
    return text if len(text) <= MAX_MESSAGE else text[: MAX_MESSAGE - 1] + "…"


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


def _positions(err: dict[str, Any], n_items: int, by_tracking: Callable[[], dict[str, int]]) -> list[int]:
    indices = err.get("indices")
    if isinstance(indices, list):
        return [i for i in indices if isinstance(i, int) and not isinstance(i, bool) and 1 <= i <= n_items]
    if isinstance(err.get("trackingIds"), list):
        known = by_tracking()
        return [known[t] for t in err["trackingIds"] if isinstance(t, str) and t in known]
    return []


def item_answers(data: Any, n_items: int,
                 tracking_ids: Callable[[], list[str | None]]) -> tuple[dict[int, str], tuple[int, ...]]:
    """What item-scope errors name (``indices``, 1-based, or ``trackingIds`` as a fallback): the
    positions that failed, with their messages, and the positions the intake already holds
    ("Item is a duplicate."), which count as delivered."""
    failures: dict[int, str] = {}
    held: set[int] = set()
    if not isinstance(data, dict) or not isinstance(data.get("errors"), list):
        return failures, ()
    cache: dict[str, int] | None = None

    def by_tracking() -> dict[str, int]:  # looked up only when an intake names items this way
        nonlocal cache
        if cache is None:
            cache = {t: i for i, t in enumerate(tracking_ids(), start=1) if t}
        return cache

    for err in data["errors"]:
        if not isinstance(err, dict):
            continue
        text = str(err.get("message") or "rejected by the intake")
        positions = _positions(err, n_items, by_tracking)
        if text.strip().lower() == ITEM_IS_A_DUPLICATE:
            held.update(positions)
            continue
        msg = f"{text} (field {err['field']})" if err.get("field") else text
        for pos in positions:
            failures[pos] = f"{failures[pos]}; {msg}" if pos in failures else msg
    for pos in held:  # the intake holds it: whatever else it says of that row, it is delivered
        failures.pop(pos, None)
    return failures, tuple(sorted(held))


def item_failures(data: Any, n_items: int, tracking_ids: Callable[[], list[str | None]]) -> dict[int, str]:
    """1-based positions named by item-scope errors (``indices``, or ``trackingIds`` as a fallback)."""
    return item_answers(data, n_items, tracking_ids)[0]


def all_duplicates(data: Any, body: bytes) -> bool:
    """Does the answer itself (its top-level message, or a report-level error naming no items)
    say every item was a duplicate? The words inside an item's message do not count."""
    if not isinstance(data, dict):
        return data is None and _plain(body).lower().startswith(ALL_DUPLICATES)
    if isinstance(data.get("message"), str) and ALL_DUPLICATES in data["message"].lower():
        return True
    errors = data.get("errors")
    for err in errors if isinstance(errors, list) else ():
        if (isinstance(err, dict) and str(err.get("scope") or "report").lower() == "report"
                and not err.get("indices") and not err.get("trackingIds")
                and ALL_DUPLICATES in str(err.get("message") or "").lower()):
            return True
    return False


def refuses_request(data: Any) -> bool:
    """A 400 that is about the request, not its items: plain text (ReportStream's "Resubmit as ...",
    an unknown client), or JSON whose errors are all of ``parameter`` scope."""
    if not isinstance(data, dict):
        return True
    errors = data.get("errors")
    return (isinstance(errors, list) and bool(errors)
            and all(isinstance(e, dict) and str(e.get("scope") or "").lower() == "parameter" for e in errors))


def _held_receipt(body: bytes, data: Any) -> str:
    if isinstance(data, dict):
        for key in ("id", "submissionId", "reportId"):
            if data.get(key) not in (None, ""):
                return f"{ALREADY_HELD} (answer {data[key]})"
    return ALREADY_HELD


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
        message = _message(data, _plain(body) or reason)
        if status == 400 and all_duplicates(data, body):
            return Decision("delivered", status, "the intake already had every item", receipt=receipt_of(body))
        failures, held = item_answers(data, n_items, tracking_ids)
        if len(held) == n_items:
            return Decision("delivered", status, "the intake already had every item",
                            receipt=_held_receipt(body, data))
        if failures or held:
            return Decision("reject_items", status, message, failures=failures, held=held,
                            receipt=_held_receipt(body, data) if held else None)
        if status == 400 and refuses_request(data):
            return Decision("pause", status, f"the intake refused relay's requests (400): {message}")
        if status == 422:
            return Decision("fail_batch", status, f"the intake refused the batch (422): {message}")
        return Decision("split", status, f"the intake refused the batch without naming items (400): {message}")
    if 500 <= status < 600:
        return Decision("unknown", status, f"the intake failed ({status}); outcome unknown, the same batch is retried")
    if 400 <= status < 500:
        return Decision("pause", status, f"the intake answered {status} ({_message(data, reason)}): "
                        "check intake.url and intake.format in the configuration")
    return Decision("unknown", status, f"unexpected answer {status} from the intake")
