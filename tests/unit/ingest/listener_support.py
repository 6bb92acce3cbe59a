"""A real listener on 127.0.0.1 over a real outbox, for the listener tests."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from relay.clock import FakeClock
from relay.config import ListenerConfig
from relay.ingest.listener import Listener
from relay.status import read_status
from relay.store.outbox import Outbox


@dataclass
class Rig:
    outbox: Outbox
    listener: Listener
    http: httpx.Client
    clock: FakeClock
    notified: list[float] = field(default_factory=list)

    def post(self, body: bytes | str, content_type: str = "application/json", **headers: str) -> httpx.Response:
        data = body.encode() if isinstance(body, str) else body
        return self.http.post("/v1/results", content=data, headers={"content-type": content_type, **headers})

    def count(self) -> int:
        """Items plus recorded duplicates: anything a post could have stored."""
        with self.outbox.db.lock:
            items = self.outbox.db.conn.execute("SELECT count(*) FROM items").fetchone()[0]
            dups = self.outbox.db.conn.execute("SELECT count(*) FROM duplicates").fetchone()[0]
        return int(items) + int(dups)


def config(**overrides: Any) -> ListenerConfig:
    values: dict[str, Any] = {"enabled": True, "host": "127.0.0.1", "port": 0, "token": None,
                              "max_body_bytes": 1024 * 1024}
    values.update(overrides)
    return ListenerConfig(**values)


@contextmanager
def running(path: Path, *, outbox: Outbox | None = None, intake_format: str = "csv", client: str = "lab.one",
            **overrides: Any) -> Iterator[Rig]:
    box = outbox or Outbox(path / "outbox.db")
    clock = FakeClock()
    notified: list[float] = []
    listener = Listener(box, config(**overrides), intake_format=intake_format, client=client, clock=clock,
                        notify=lambda: notified.append(clock.now()),
                        status=lambda: read_status(box, (), clock.now()))
    listener.start()
    try:
        with httpx.Client(base_url=listener.url, timeout=30) as http:
            yield Rig(box, listener, http, clock, notified)
    finally:
        listener.stop()
        box.close()


def wait_until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    """Wait for a condition another thread makes true (not for time to pass)."""
    deadline = time.monotonic() + timeout
    event = threading.Event()
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("the condition did not become true in time")
        event.wait(0.005)
