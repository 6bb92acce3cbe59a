"""The running app's state: the agent and its lifecycle, the latest status, and every action a
person can take, shared by the window, the tray and the settings dialog.

Agent calls happen on the worker's action lane (one at a time, in order, off the GUI thread);
status reads on the read lane through ``StoreReader``. Refreshes are coalesced: whatever the
events, the status is read at most every ``MIN_REFRESH_S`` (longer when reading it is slow).
"""

from __future__ import annotations

import getpass
import hashlib
import logging
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol

from PySide6.QtCore import QObject, QSettings, QTimer, QUrl, Signal
from PySide6.QtGui import QDesktopServices

from relay.clock import Clock, SystemClock
from relay.config import Config
from relay.errors import EnvironmentProblem, RelayError
from relay.events import EventBus, SenderState
from relay.paths import app_paths, config_file
from relay.ui.bridge import Bridge
from relay.ui.incidents import IncidentTracker, Notice
from relay.ui.reader import StoreReader
from relay.ui.worker import Worker

log = logging.getLogger("relay.ui")

MIN_REFRESH_S = 0.5
PERIODIC_REFRESH_MS = 15_000


class AgentLike(Protocol):
    """What the app needs from ``relay.agent.Agent`` (tests pass a small fake with these)."""

    config: Config
    events: EventBus

    def start(self) -> None: ...
    def stop(self) -> None: ...
    def pause(self, reason: str = ...) -> None: ...
    def resume(self) -> None: ...
    def send_now(self) -> int: ...
    def retry(self, ids: Sequence[int] = ..., *, state: str | None = ...) -> list[int]: ...
    def resend(self, ids: Sequence[int]) -> list[int]: ...
    def discard(self, ids: Sequence[int], *, reason: str | None = ...) -> list[int]: ...
    def set_token(self, token: str) -> None: ...
    def stats(self) -> dict[str, Any]: ...


AgentFactory = Callable[[Config], AgentLike]


def default_agent_factory(config: Config) -> AgentLike:
    from relay.agent import Agent

    return Agent(config)


class Session(QObject):
    statsChanged = Signal(dict)
    started = Signal()
    startFailed = Signal(str)
    notice = Signal(object)  # incidents.Notice
    message = Signal(str)  # plain words for the status bar (results of actions)
    configChanged = Signal(object)

    def __init__(self, config: Config, *, agent_factory: AgentFactory = default_agent_factory,
                 clock: Clock | None = None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.config = config
        self.factory = agent_factory
        # Made on the action lane when sending starts (importing the agent takes a while, and the
        # window comes first); only the action lane uses it.
        self.agent: AgentLike | None = None
        self.clock: Clock = clock or SystemClock()
        self.worker = Worker(self)
        self.bridge = Bridge(self)
        self.reader = StoreReader(config.store.path, config.maintenance, self.clock, config.health)
        self.reader.files_seen_up_to = seen_files_mark(config.store.path)
        self.tracker = IncidentTracker()
        self.running = False
        self._agent_up: AgentLike | None = None
        self.min_refresh_s = MIN_REFRESH_S
        self.stats: dict[str, Any] = {}
        self._sender: dict[str, Any] | None = None
        self._refreshing = False
        self._again = False
        self._next_allowed = 0.0
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self._refresh_now)
        self._periodic = QTimer(self)
        self._periodic.setInterval(PERIODIC_REFRESH_MS)
        self._periodic.timeout.connect(self.request_refresh)
        self.bridge.event.connect(self._on_event)
        self.bridge.senderState.connect(self._on_sender_state)
        self.worker.failed.connect(self.message)

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        """Make and start the agent on the action lane; the window reads the outbox meanwhile."""
        config = self.config
        self.worker.action("Starting relay", lambda: self._make_and_start(config), self._on_started,
                           self._on_start_failed)
        self._periodic.start()
        self.request_refresh()

    def _make_and_start(self, config: Config) -> dict[str, Any] | None:  # on the action lane
        agent = self.factory(config)
        self.bridge.attach(agent.events)  # before start: no event of the start-up is missed
        self.agent = agent
        agent.start()
        self._agent_up = agent  # started, whether or not the GUI thread has heard yet
        sender = agent.stats().get("sender")
        return sender if isinstance(sender, dict) else None

    def _on_started(self, sender: dict[str, Any] | None) -> None:
        self.running = True
        if self._sender is None:
            self._sender = sender
        self.started.emit()
        self.request_refresh()

    def _on_start_failed(self, exc: BaseException) -> None:
        self.running = False
        if isinstance(exc, RelayError):
            log.warning("relay could not start: %s", exc)
        else:
            log.error("relay could not start", exc_info=exc)
        self.startFailed.emit(str(exc))

    def shutdown(self) -> None:
        """Stop everything, in order: no new work, running work finished, agent stopped."""
        self._periodic.stop()
        self._timer.stop()
        self.bridge.detach()
        self.worker.shutdown()
        # The window's read connection goes first: the agent's is then the last one open, and
        # closing it checkpoints the write-ahead log (a read-only connection cannot).
        self.reader.close()
        # Also an agent whose start finished while the app was already stopping (a signal or Quit
        # right after launch): its "started" never reached the GUI thread, but it runs.
        if self.agent is not None and (self.running or self._agent_up is self.agent):
            try:
                self.agent.stop()
            finally:
                self.running = False
                self._agent_up = None

    # -- status -------------------------------------------------------------------------------

    def request_refresh(self) -> None:
        if self._refreshing:
            self._again = True
            return
        if not self._timer.isActive():
            delay = max(0.0, self._next_allowed - time.monotonic())
            self._timer.start(int(delay * 1000))

    def _refresh_now(self) -> None:
        self._refreshing = True
        started = time.monotonic()
        self.worker.read(self.reader.stats, lambda snap: self._got_stats(snap, started), self._stats_failed)

    def _stats_failed(self, exc: BaseException) -> None:
        self._refreshing = False
        self._next_allowed = time.monotonic() + 2.0
        if self.running:
            self.worker.report(exc)
        if self._again:
            self._again = False
            self.request_refresh()

    def _got_stats(self, snap: dict[str, Any], started: float) -> None:
        took = time.monotonic() - started
        self._next_allowed = time.monotonic() + max(self.min_refresh_s, 4 * took)
        self._refreshing = False
        self._publish(snap)
        if self._again:
            self._again = False
            self.request_refresh()

    def _publish(self, snap: dict[str, Any]) -> None:
        stats = dict(snap)
        stats["sender"] = self._sender
        stats["running"] = self.running
        stats["no_intake"] = not self.config.intake.url
        self.stats = stats
        self.statsChanged.emit(stats)
        if self.running:
            for n in self.tracker.observe(stats, self.clock.now()):
                log.info("notice: %s", n.title)
                self.notice.emit(n)

    def _on_event(self, event: object) -> None:
        self.tracker.on_event(event, self.clock.now())  # type: ignore[arg-type]
        self.request_refresh()

    def _on_sender_state(self, state: SenderState) -> None:
        self._sender = {"state": state.state, "reason": state.reason, "until": state.until}
        if self.stats:
            self._publish({k: v for k, v in self.stats.items() if k not in ("sender", "running", "no_intake")})

    def mark_files_seen(self) -> None:
        """A person has seen the Files view (or the notice about a rejected file): rejections up to
        the newest file shown no longer turn the tray to "needs attention" (INTERFACE §3a)."""
        newest = int(self.stats.get("files_newest_id") or 0)
        if newest <= self.reader.files_seen_up_to:
            return
        self.reader.files_seen_up_to = newest
        store_seen_files_mark(self.config.store.path, newest)
        self.request_refresh()

    @property
    def quiet(self) -> bool:
        """Nothing is running or due: every background job finished and its result is shown."""
        return self.worker.idle and not self._refreshing and not self._timer.isActive()

    @property
    def paused(self) -> bool:
        return bool(self.stats.get("paused"))

    # -- actions ----------------------------------------------------------------------------------

    def _act(self, label: str, fn: Callable[[AgentLike], Any], done: Callable[[Any], str] | None = None,
             on_error: Callable[[BaseException], None] | None = None) -> None:
        def job() -> Any:
            if self.agent is None:
                raise EnvironmentProblem("relay has not started; see the message about why")
            return fn(self.agent)

        def finished(result: Any) -> None:
            if done is not None:
                self.message.emit(done(result))
            self.request_refresh()

        self.worker.action(label, job, finished, on_error)

    def pause(self, reason: str | None = None) -> None:
        why = reason or f"paused by {_user()}"
        self._act("Pausing sending", lambda a: a.pause(why), lambda _: "Sending paused. Results keep arriving "
                  "and wait in the queue.")

    def resume(self) -> None:
        self._act("Resuming sending", lambda a: a.resume(), lambda _: "Sending resumed.")

    def toggle_pause(self) -> None:
        self.resume() if self.paused else self.pause()

    def send_now(self) -> None:
        self._act("Sending now", lambda a: a.send_now(),
                  lambda n: f"Sending now: {n:,} waiting batch(es) and result(s) are due at once."
                  if n else "Sending now: nothing was waiting for a retry.")

    def retry(self, ids: Sequence[int] = (), *, state: str | None = None) -> None:
        what = f"all {state} results" if state else f"{len(ids):,} result(s)"
        self._act(f"Putting {what} back in the queue", lambda a: a.retry(list(ids), state=state),
                  lambda done: f"{len(done):,} result(s) back in the queue.")

    def discard(self, ids: Sequence[int], reason: str | None = None) -> None:
        """Failed or dead results set aside by a person: not to be sent, kept with their history,
        back in the queue with a retry. Results that travelled in a batch with an unknown outcome
        go together with the rest of that batch, so more may be discarded than were chosen."""
        chosen = list(dict.fromkeys(ids))
        why = reason or None

        self._act(f"Discarding {len(chosen):,} result(s)", lambda a: a.discard(chosen, reason=why),
                  lambda done: discard_message(len(chosen), done))

    def resend(self, ids: Sequence[int]) -> None:
        self._act(f"Queueing {len(ids):,} result(s) to send again", lambda a: a.resend(list(ids)),
                  lambda done: f"{len(done):,} result(s) will be sent again.")

    def run_action(self, label: str, fn: Callable[[], Any], on_done: Callable[[Any], None] | None = None,
                   on_error: Callable[[BaseException], None] | None = None) -> None:
        """Any other long action (export, saving settings) on the action lane."""
        self.worker.action(label, fn, on_done, on_error)

    def set_token(self, token: str, on_done: Callable[[Any], None], on_error: Callable[[BaseException], None]) -> None:
        def store() -> None:
            if self.agent is None:
                raise EnvironmentProblem("relay has not started; the credential was not stored")
            self.agent.set_token(token)

        self.worker.action("Storing the credential", store, on_done, on_error)

    def open_watched_folder(self) -> bool:
        if not self.config.watches:
            self.message.emit("No watched folder is configured (Settings).")
            return False
        folder = self.config.watches[0].folder
        if not folder.is_dir():
            self.message.emit(f"The watched folder {folder} does not exist.")
            return False
        return QDesktopServices.openUrl(QUrl.fromLocalFile(str(folder)))

    @property
    def config_path(self) -> Path:
        return self.config.source or config_file(None)

    # -- settings -------------------------------------------------------------------------------

    def apply_config(self, config: Config) -> None:
        """Restart the agent with ``config``; if it cannot start, go back to the previous one."""
        old_config = self.config
        self.config = config
        self.running = False
        self.reader_update(config)

        def job() -> dict[str, Any] | None:
            if self.agent is not None:
                self.agent.stop()
                self.agent = None
            return self._make_and_start(config)

        def done(sender: dict[str, Any] | None) -> None:
            self._on_started(sender)
            self.message.emit("Settings applied: sending restarted with them.")

        def failed(exc: BaseException) -> None:
            self.message.emit(f"relay could not start with the new settings ({exc}); it keeps the previous "
                              "settings until it is restarted.")
            self.config = old_config
            self.reader_update(old_config)
            self.configChanged.emit(old_config)
            self.start()

        self.worker.action("Restarting sending with the new settings", job, done, failed)
        self.configChanged.emit(config)

    def reader_update(self, config: Config) -> None:
        if config.store.path != self.reader.path:
            old = self.reader
            self.worker.read(old.close)
            self.reader = StoreReader(config.store.path, config.maintenance, self.clock, config.health)
            self.reader.files_seen_up_to = seen_files_mark(config.store.path)
        else:
            self.reader.windows = tuple(config.maintenance)


def discard_message(chosen: int, discarded: Sequence[int]) -> str:
    n = len(discarded)
    extra = n - chosen
    text = (f"{n:,} result(s) discarded: they will not be sent. They are kept in Discarded, where Retry puts "
            "them back in the queue.")
    if extra > 0:
        text += (f" That is {chosen:,} selected and {extra:,} more that travelled in the same batch (sent before, "
                 "outcome unknown), which is set aside whole.")
    return text


def _seen_store() -> QSettings:
    return QSettings(str(app_paths().state_dir / "seen.ini"), QSettings.Format.IniFormat)


def _seen_key(outbox: Path) -> str:
    return "files_seen_up_to/" + hashlib.sha256(str(outbox).encode("utf-8", "surrogateescape")).hexdigest()[:16]


def seen_files_mark(outbox: Path) -> int:
    try:
        return int(_seen_store().value(_seen_key(outbox), 0))  # type: ignore[call-overload]
    except (TypeError, ValueError):
        return 0


def store_seen_files_mark(outbox: Path, newest: int) -> None:
    store = _seen_store()
    store.setValue(_seen_key(outbox), newest)
    store.sync()


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "a person"


__all__ = ["AgentFactory", "AgentLike", "Notice", "Session", "default_agent_factory", "discard_message"]
