"""Bodies of the intake's answers, shaped like ReportStream's submission responses."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime, timezone
from typing import Any

from server_stub.payload import Item, ItemProblem

ALL_DUPLICATES = "All items in this submission are duplicates"


def iso(ts: float) -> str:
    """ISO-8601 in UTC with milliseconds and a ``Z``, as ReportStream writes timestamps."""
    return datetime.fromtimestamp(ts, tz=timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def dumps(body: dict[str, Any]) -> str:
    return json.dumps(body, ensure_ascii=False, separators=(",", ":"))


def _grouped(
    entries: Sequence[tuple[int, str | None, str | None, str]], scope: str = "item"
) -> list[dict[str, Any]]:
    """One entry per (field, message), listing every index and tracking id it applies to."""
    groups: dict[tuple[str | None, str], dict[str, Any]] = {}
    for index, tracking_id, field, message in entries:
        group = groups.get((field, message))
        if group is None:
            group = groups[(field, message)] = {
                "scope": scope, "indices": [], "trackingIds": [], "field": field, "message": message,
            }
        group["indices"].append(index)
        group["trackingIds"].append(tracking_id)
    return list(groups.values())


def item_errors(problems: Sequence[ItemProblem]) -> list[dict[str, Any]]:
    return _grouped([(p.position, p.tracking_id, p.field, p.message) for p in problems])


def duplicate_warnings(items: Sequence[Item], duplicate_indices: Sequence[int]) -> list[dict[str, Any]]:
    if not duplicate_indices:
        return []
    dup = set(duplicate_indices)
    return _grouped(
        [(i.position, i.tracking_id, None, "Item was already received in an earlier submission")
         for i in items if i.position in dup]
    )


def receipt(
    *,
    report_id: str,
    submission_id: int,
    sender: str,
    timestamp: float,
    item_count: int,
    payload_name: str | None,
    warnings: list[dict[str, Any]],
    duplicate_count: int,
) -> dict[str, Any]:
    return {
        "id": report_id,
        "submissionId": submission_id,
        "overallStatus": "Received",
        "timestamp": iso(timestamp),
        "plannedCompletionAt": None,
        "actualCompletionAt": None,
        "sender": sender,
        "reportItemCount": item_count,
        "errorCount": 0,
        "warningCount": len(warnings),
        "httpStatus": 201,
        "httpStatusMessage": "Created",
        "actionName": "receive",
        "externalName": payload_name,
        "reportId": report_id,
        "destinations": [],
        "destinationCount": 0,
        "errors": [],
        "warnings": warnings,
        "duplicateCount": duplicate_count,
    }


def error_answer(
    status: int,
    message: str,
    *,
    timestamp: float,
    report_id: str | None = None,
    sender: str | None = None,
    item_count: int | None = None,
    errors: list[dict[str, Any]] | None = None,
    scope: str = "report",
) -> dict[str, Any]:
    """An answer that stored nothing. ``errors`` default to one entry of ``scope`` with ``message``."""
    if errors is None:
        errors = [{"scope": scope, "message": message}]
    return {
        "id": report_id,
        "submissionId": None,
        "overallStatus": "Error",
        "timestamp": iso(timestamp),
        "sender": sender,
        "reportItemCount": item_count,
        "errorCount": len(errors),
        "warningCount": 0,
        "httpStatus": status,
        "message": message,
        "destinations": [],
        "errors": errors,
        "warnings": [],
    }
