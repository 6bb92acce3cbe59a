"""Counting intake requests by what they came to (``relay_intake_requests_total{outcome}``)."""

from __future__ import annotations

import logging

from relay.delivery.answers import Decision
from relay.errors import EnvironmentProblem
from relay.store.roles import ControlValues

log = logging.getLogger("relay.delivery")

OUTCOME_OF_KIND = {
    "delivered": "delivered",  # 2xx (or every item already there)
    "reject_items": "rejected",  # the intake refused items or the batch: 400, 413, 422
    "fail_batch": "rejected",
    "split": "rejected",
    "unavailable": "unavailable",  # 429, 503 (maintenance, busy), 409 still processing
    "retry_later": "unavailable",
    "unknown": "error",  # 5xx, timeout, connection refused or cut: outcome unknown
}


def outcome_of(decision: Decision) -> str:
    if decision.kind == "pause":  # 401, 403, 410 and other 4xx: the intake refused relay itself
        return "refused" if decision.status is not None else "error"
    return OUTCOME_OF_KIND.get(decision.kind, "error")


def count_request(box: ControlValues, decision: Decision) -> None:
    """Count one request, in the transaction that records its answer (no commit of its own); a
    full disk loses the count, never the delivery."""
    try:
        box.count_intake_request(outcome_of(decision), later=True)
    except EnvironmentProblem as exc:
        log.debug("an intake request could not be counted: %s", exc)
