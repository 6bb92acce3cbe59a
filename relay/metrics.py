"""Prometheus metrics (INTERFACE §11) made from the status object, nothing else.

A custom collector over the same status `relay status`, /healthz and the tray read, so a scrape
costs one status read (about 10-35 ms at a million items) and can never show another truth. Only
counts, times and sizes: no patient data, no item content, no file names.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from datetime import datetime
from typing import Any

from prometheus_client import generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from relay import __version__
from relay.store.models import STATES
from relay.store.tallies import REQUEST_OUTCOMES

# The classic text format, which every Prometheus reads (prometheus_client 0.22+ names a newer version
# by default, which older servers, Debian's 2.42 among them, do not know).
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def _epoch(value: Any) -> float | None:
    if value is None or value == "":
        return None
    if isinstance(value, (int, float)):
        return float(value)
    return datetime.fromisoformat(str(value)).timestamp()


def families(status: Mapping[str, Any]) -> Iterator[Metric]:
    """The metric families of one status object."""
    items = GaugeMetricFamily("relay_items", "Items in the outbox, by state.", labels=["state"])
    for state in STATES:
        items.add_metric([state], float(status.get(state) or 0))
    yield items
    yield CounterMetricFamily("relay_duplicates", "Results skipped as duplicates of one already taken.",
                              value=float(status.get("duplicates") or 0))
    files = CounterMetricFamily("relay_files", "Files read from watched folders or `relay ingest`, by outcome.",
                                labels=["outcome"])
    files.add_metric(["processed"], float(status.get("files_processed") or 0))
    files.add_metric(["rejected"], float(status.get("files_rejected") or 0))
    yield files
    now = _epoch(status.get("now"))
    oldest = _epoch(status.get("oldest_pending_at"))
    waiting = int(status.get("pending") or 0) + int(status.get("sending") or 0)
    age = max(0.0, now - oldest) if now is not None and oldest is not None and waiting else 0.0
    yield GaugeMetricFamily("relay_oldest_pending_age_seconds",
                            "Age of the oldest result waiting to be delivered (0 when none waits).", value=age)
    yield GaugeMetricFamily("relay_last_success_timestamp_seconds",
                            "When the intake last acknowledged a batch (Unix time; 0: never).",
                            value=_epoch(status.get("last_success_at")) or 0.0)
    requests = CounterMetricFamily("relay_intake_requests", "Requests made to the intake, by what they came to.",
                                   labels=["outcome"])
    counts = status.get("intake_requests") or {}
    for outcome in sorted(set(REQUEST_OUTCOMES) | set(counts)):
        requests.add_metric([outcome], float(counts.get(outcome, 0)))
    yield requests
    yield GaugeMetricFamily("relay_paused", "1 while sending is paused (by a person or by the intake).",
                            value=1.0 if status.get("paused") else 0.0)
    yield GaugeMetricFamily("relay_maintenance", "1 while relay waits for the intake's maintenance (a configured "
                            "window, or the intake asked relay to wait).",
                            value=1.0 if status.get("maintenance_until") else 0.0)
    free = status.get("disk_free_bytes")
    if free is not None:  # unknown is left out rather than shown as an empty disk
        yield GaugeMetricFamily("relay_disk_free_bytes", "Free space on the outbox's disk.", value=float(free))
    yield GaugeMetricFamily("relay_outbox_bytes", "Size of the outbox on disk (database and its WAL).",
                            value=float(status.get("outbox_bytes") or 0))
    info = GaugeMetricFamily("relay_build_info", "relay's version (always 1).", labels=["version"])
    info.add_metric([__version__], 1.0)
    yield info


class StatusCollector:
    """A prometheus_client collector reading the status each time it is collected."""

    def __init__(self, status: Callable[[], Mapping[str, Any]]) -> None:
        self._status = status

    def collect(self) -> Iterator[Metric]:
        yield from families(self._status())


def render(status: Mapping[str, Any]) -> bytes:
    """The Prometheus text exposition of one status object."""
    return generate_latest(StatusCollector(lambda: status))  # type: ignore[arg-type]
