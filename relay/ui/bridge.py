"""The one bridge between the core and the UI.

The core emits plain events (``relay.events``) from its own threads. The bridge subscribes to the
agent's bus and hands every event to the GUI thread first, through a queued connection, and only
there re-emits it as a Qt signal; so whatever connects to the bridge runs on the GUI thread,
however it connects.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QObject, Qt, Signal, SignalInstance

from relay.events import (
    CountsChanged,
    Delivered,
    Event,
    EventBus,
    ItemsFailed,
    Paused,
    Problem,
    Resumed,
    SenderState,
)


class Bridge(QObject):
    anyEvent = Signal(object)  # every event, after the specific signal below (not "event": QObject.event())
    delivered = Signal(object)
    itemsFailed = Signal(object)
    senderState = Signal(object)
    paused = Signal(object)
    resumed = Signal(object)
    countsChanged = Signal(object)
    problem = Signal(object)
    _incoming = Signal(object)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._unsubscribe: Callable[[], None] | None = None
        self._incoming.connect(self._dispatch, Qt.ConnectionType.QueuedConnection)
        self._by_type: dict[type, SignalInstance] = {
            Delivered: self.delivered, ItemsFailed: self.itemsFailed, SenderState: self.senderState,
            Paused: self.paused, Resumed: self.resumed, CountsChanged: self.countsChanged, Problem: self.problem,
        }

    def attach(self, bus: EventBus) -> None:
        """Listen to ``bus`` (an agent's ``events``) instead of any earlier one."""
        self.detach()
        self._unsubscribe = bus.subscribe(self._on_event)

    def detach(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None

    def _on_event(self, event: Event) -> None:  # any thread
        self._incoming.emit(event)

    def _dispatch(self, event: Event) -> None:  # the GUI thread
        signal = self._by_type.get(type(event))
        if signal is not None:
            signal.emit(event)
        self.anyEvent.emit(event)
