"""Plain events the core emits (frozen dataclasses) and the small bus that carries them.

The UI's bridge subscribes and re-emits them as Qt signals; the core never knows about Qt.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass

log = logging.getLogger("relay")


@dataclass(frozen=True)
class Delivered:
    batch_id: int
    count: int
    at: float


@dataclass(frozen=True)
class ItemsFailed:
    count: int
    reason: str
    at: float


@dataclass(frozen=True)
class SenderState:
    """What the sender is doing: idle | sending | waiting | paused, and until when / why."""

    state: str
    reason: str | None = None
    until: float | None = None


@dataclass(frozen=True)
class Paused:
    by: str  # person | intake
    reason: str
    at: float


@dataclass(frozen=True)
class Resumed:
    at: float


@dataclass(frozen=True)
class CountsChanged:
    at: float


@dataclass(frozen=True)
class Problem:
    """Something a person should know about the machine or a source (folder gone, disk full)."""

    key: str
    text: str | None  # None: the problem cleared


Event = Delivered | ItemsFailed | SenderState | Paused | Resumed | CountsChanged | Problem
Listener = Callable[[Event], None]


class EventBus:
    def __init__(self) -> None:
        self._listeners: list[Listener] = []
        self._lock = threading.Lock()

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        with self._lock:
            self._listeners.append(listener)

        def unsubscribe() -> None:
            with self._lock:
                if listener in self._listeners:
                    self._listeners.remove(listener)

        return unsubscribe

    def emit(self, event: Event) -> None:
        with self._lock:
            listeners = list(self._listeners)
        for listener in listeners:
            try:
                listener(event)
            except Exception:  # a broken listener must not stop delivery; it is a bug, logged loudly
                log.exception("event listener failed on %s", type(event).__name__)
