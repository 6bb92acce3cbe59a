"""Shared builders for the destination tests: a config from a dict, a context, a batch."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from relay.clock import FakeClock
from relay.config import Config, from_dict
from relay.delivery.destinations import DestinationContext
from relay.store.models import Batch

FORMED_AT = 1_767_225_600.123  # 2026-01-01T00:00:00.123Z


def make_config(tmp_path: Path, intake: dict[str, Any]) -> Config:
    data = {"intake": {"client": "lab.one", **intake}, "store": {"path": str(tmp_path / "outbox.db")}}
    return from_dict(data, tmp_path / "relay.toml")


def make_context(config: Config, secret: str | None = None, **extras: Any) -> DestinationContext:
    return DestinationContext(config=config, clock=FakeClock(), secret=lambda: secret, extras=dict(extras))


def make_batch(body: bytes, *, key: str = "k-0001", content_type: str = "text/csv", batch_id: int = 7,
               items: int = 2, created_at: float = FORMED_AT, client: str = "lab.one") -> Batch:
    return Batch(id=batch_id, idempotency_key=key, state="sending", client=client, content_type=content_type,
                 payloadname="results.csv", body=body, item_ids=tuple(range(1, items + 1)), attempts=0,
                 next_attempt_at=0.0, created_at=created_at)


def no_tracking() -> list[str | None]:
    return []
