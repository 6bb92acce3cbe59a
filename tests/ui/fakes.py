"""Stand-ins for what the desktop app's tests cannot have for real: the agent's sender and
sources (a fake agent over a real outbox), the system tray and a person answering dialogs. The
in-memory OS keyring is tests.helpers.keyrings.MemoryKeyring."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Signal

from relay import credentials
from relay.clock import FakeClock
from relay.config import Config
from relay.events import CountsChanged, EventBus, Event, Paused, Resumed, SenderState
from relay.status import PAUSED_BY, PAUSED_REASON, UNAVAILABLE_UNTIL, snapshot
from relay.store.outbox import Outbox


class FakeAgent:
    """The Agent's methods over a real outbox in the test's folder; no sender thread, no sources.
    Tests play the sender's part with ``emit`` and the outbox's own transitions."""

    def __init__(self, config: Config, clock: FakeClock, *, fail_start: Exception | None = None) -> None:
        self.config = config
        self.clock = clock
        self.events = EventBus()
        self.outbox: Outbox | None = None
        self.fail_start = fail_start
        self.sender_state: SenderState | None = SenderState("idle")
        self.calls: list[tuple[str, Any]] = []
        self.gate: threading.Event | None = None  # set by a test to hold an action mid-way
        self.entered = threading.Event()
        self.token: str | None = None
        self.started = self.stopped = 0

    def start(self) -> None:
        if self.fail_start is not None:
            raise self.fail_start
        self.outbox = Outbox(self.config.store.path, dedupe_window_days=self.config.delivery.dedupe_window_days)
        self.started += 1

    def stop(self) -> None:
        if self.outbox is not None:
            self.outbox.close()
            self.outbox = None
        self.stopped += 1

    @property
    def box(self) -> Outbox:
        if self.outbox is None:
            raise RuntimeError("the agent is not started")
        return self.outbox

    def emit(self, event: Event) -> None:
        self.events.emit(event)

    def _hold(self) -> None:
        self.entered.set()
        if self.gate is not None:
            assert self.gate.wait(30), "the test never released the action"

    # -- the Agent's actions, as relay.agent.Agent does them ----------------------------------

    def pause(self, reason: str = "paused by a person") -> None:
        self.calls.append(("pause", reason))
        now = self.clock.now()
        self.box.set_control({PAUSED_BY: "person", PAUSED_REASON: reason})
        self.box.audit("pause", now=now, detail=reason)
        self.emit(Paused("person", reason, now))
        self.emit(CountsChanged(now))

    def resume(self) -> None:
        self.calls.append(("resume", None))
        now = self.clock.now()
        self.box.set_control({PAUSED_BY: None, PAUSED_REASON: None, UNAVAILABLE_UNTIL: None})
        self.emit(Resumed(now))
        self.emit(CountsChanged(now))

    def send_now(self) -> int:
        self.calls.append(("send_now", None))
        self._hold()
        n = self.box.make_due(now=self.clock.now())
        self.emit(CountsChanged(self.clock.now()))
        return n

    def retry(self, ids: Sequence[int] = (), *, state: str | None = None, actor: str = "person") -> list[int]:
        self.calls.append(("retry", (list(ids), state)))
        self._hold()
        done = self.box.retry(ids, state=state, now=self.clock.now(), actor=actor)
        self.emit(CountsChanged(self.clock.now()))
        return done

    def discard(self, ids: Sequence[int], *, reason: str | None = None, actor: str = "person") -> list[int]:
        self.calls.append(("discard", (list(ids), actor, reason, threading.current_thread().name)))
        self._hold()
        done = self.box.discard(ids, now=self.clock.now(), actor=actor, reason=reason)
        self.emit(CountsChanged(self.clock.now()))
        return done

    def resend(self, ids: Sequence[int], *, actor: str = "person") -> list[int]:
        self.calls.append(("resend", list(ids)))
        done = self.box.resend(ids, now=self.clock.now(), actor=actor)
        self.emit(CountsChanged(self.clock.now()))
        return done

    def set_token(self, token: str) -> None:
        self.calls.append(("set_token", "***"))
        credentials.set_token(token)

    def stats(self) -> dict[str, Any]:
        snap = snapshot(self.box, self.config.maintenance, self.clock.now())
        if self.sender_state is not None:
            s = self.sender_state
            snap["sender"] = {"state": s.state, "reason": s.reason, "until": s.until}
        return snap


class FakeTray(QObject):
    """Records what the app asks of the tray icon."""

    activated = Signal(object)
    messageClicked = Signal()
    instances: list[FakeTray] = []

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.icon: Any = None
        self.tooltip = ""
        self.menu: Any = None
        self.visible = False
        self.messages: list[tuple[str, str]] = []
        FakeTray.instances.append(self)

    def setIcon(self, icon: Any) -> None:
        self.icon = icon

    def setToolTip(self, text: str) -> None:
        self.tooltip = text

    def setContextMenu(self, menu: Any) -> None:
        self.menu = menu

    def show(self) -> None:
        self.visible = True

    def hide(self) -> None:
        self.visible = False

    def showMessage(self, title: str, text: str, icon: Any, msecs: int) -> None:
        self.messages.append((title, text))


class ScriptedPrompts:
    """Answers the app's questions as a test says, and remembers what was asked."""

    def __init__(self) -> None:
        self.confirm_answer = True
        self.reason_answer: str | None = ""  # what is typed in a reason field; None cancels
        self.save_answer: Path | None = None
        self.folder_answer: Path | None = None
        self.asked: list[tuple[str, str]] = []
        self.errors: list[tuple[str, str]] = []

    def confirm(self, parent: Any, title: str, text: str, ok: str) -> bool:
        self.asked.append((title, text))
        return self.confirm_answer

    def confirm_with_reason(self, parent: Any, title: str, text: str, ok: str, label: str,
                            placeholder: str = "") -> str | None:
        self.asked.append((title, text))
        return self.reason_answer

    def save_path(self, parent: Any, title: str, suggested: Path) -> Path | None:
        self.asked.append((title, str(suggested)))
        return self.save_answer

    def folder(self, parent: Any, title: str, start: Path | None) -> Path | None:
        self.asked.append((title, str(start)))
        return self.folder_answer

    def error(self, parent: Any, title: str, text: str) -> None:
        self.errors.append((title, text))
