"""The agent facade: owns the outbox, the sender and the sources; start/stop/pause/resume.

The CLI, the desktop app and the tests all drive this one object.
"""

from __future__ import annotations

import json
import logging
import signal
import threading
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import httpx

from relay import __version__, credentials
from relay.clock import Clock, SystemClock
from relay.config import Config
from relay.delivery.destinations import Destination, DestinationContext, open_destination
from relay.delivery.destinations.http_client import make_http_client
from relay.delivery.fit import check_formats, listener_format
from relay.delivery.sender import Sender
from relay.events import CountsChanged, EventBus, Paused, Problem, Resumed
from relay.errors import EnvironmentProblem, OutboxDamaged, RelayError
from relay.heartbeat import Heartbeat
from relay.instance import InstanceLock
from relay.memory import share_malloc_arenas
from relay.status import (
    IGNORED_FILES,
    PAUSED_BY,
    PAUSED_PROBE,
    PAUSED_REASON,
    PROBLEMS,
    UNAVAILABLE_UNTIL,
    Status,
    read_status,
)
from relay.store.db import CLEAN_CLOSE
from relay.store.outbox import Outbox
from relay.store.query_view import QueryView
from relay.store.models import ItemState
from relay.store.roles import ActionsAndControls

log = logging.getLogger("relay")

__all__ = ["Agent", "make_http_client", "pause_recorded", "run_foreground", "set_aside", "undo_pause_made_by_run"]  # make_http_client: older callers


class Agent:
    def __init__(
        self,
        config: Config,
        *,
        clock: Clock | None = None,
        http_client: httpx.Client | None = None,
        token: Callable[[], str | None] | None = None,
    ) -> None:
        self.config = config
        self.clock = clock or SystemClock()
        self.events = EventBus()
        self._http = http_client  # injected by tests; otherwise the destination makes its own
        self.destination: Destination | None = None
        self._token = token or credentials.get_token
        self._lock = InstanceLock(config.store.path)
        self.outbox: Outbox | None = None
        self.sender: Sender | None = None
        self.sources: list[Any] = []
        self.heartbeat: Heartbeat | None = None
        self._started = False
        self._problems: dict[str, str] = {}
        self._problems_lock = threading.Lock()
        self._problems_saved = True

    # -- lifecycle ------------------------------------------------------------------------------

    def start(self) -> None:
        from relay.ingest.translate import check_translation

        check_translation(self.config)  # CSV sources with an HL7-only intake need [translate] (INTERFACE §10)
        if self.config.listener.enabled:
            share_malloc_arenas()
        self._lock.acquire()
        try:
            damaged_note = None
            try:
                self.outbox = self._open_outbox()
            except OutboxDamaged as exc:
                aside = set_aside(self.config.store.path, self.clock.now())
                self._lock.release()  # the lock went aside with the damaged file: lock the new one
                self._lock.acquire()
                detail = str(exc).split("; it has been left as it is")[0]
                log.error("%s; the file is kept, renamed to %s, and a new outbox was started", detail, aside.name)
                damaged_note = (f"The outbox was damaged and has been kept aside as {aside}; the results in it "
                                f"were not sent. Ask your administrator to recover them (sqlite3 \"{aside}\" .recover).")
                self.outbox = self._open_outbox()
            self.outbox.set_control({PROBLEMS: None})  # problems are re-detected by this run
            self.outbox.set_control({k: None for k in self.outbox.counts().control if k.startswith(IGNORED_FILES)})
            if damaged_note:
                self.set_problem("outbox:damaged", damaged_note)
            if self.config.intake.url:
                self.destination = open_destination(DestinationContext(
                    config=self.config, clock=self.clock, secret=self._token, http_client=self._http))
                check_formats(self.config, self.destination)
                self.sender = Sender(self.outbox, self.config, destination=self.destination, clock=self.clock,
                                     events=self.events, on_problem=self.set_problem)
                self.sender.start()
            else:
                log.warning("intake.url is not set: items are kept in the outbox but not sent")
            for source in self._make_sources():
                try:
                    source.start()
                except EnvironmentProblem as exc:  # e.g. the listener's port is taken: the rest still runs
                    log.error("%s", exc)
                    self.set_problem(f"source:{type(source).__name__}", str(exc))
                    continue
                self.sources.append(source)
            if self.config.heartbeat.url:
                self.heartbeat = Heartbeat(self.config, status=self.stats, agent_id=self.outbox.agent_id(),
                                           token=self._heartbeat_credential, clock=self.clock)
                self.heartbeat.start()
        except BaseException:
            self.stop()
            raise
        self._started = True
        log.info("agent started (outbox %s)", self.config.store.path)

    def _open_outbox(self) -> Outbox:
        box = Outbox(self.config.store.path, dedupe_window_days=self.config.delivery.dedupe_window_days,
                     check="auto")
        box.set_control({CLEAN_CLOSE: "0"})  # set back to "1" by a clean stop
        return box

    def _make_sources(self) -> list[Any]:
        from relay.ingest.watcher import FolderWatcher

        sources: list[Any] = [
            FolderWatcher(watch, self.box, client=self.config.client_for(watch), clock=self.clock,
                          on_new_work=self.new_work, on_problem=self.set_problem, translate=self.config.translate,
                          on_ignored=self._ignored_noter(watch.folder))
            for watch in self.config.watches
        ]
        if self.config.listener.enabled:  # imported only then: Starlette and uvicorn take a quarter second
            from relay.ingest.listener import Listener

            formats = self.destination.formats if self.destination is not None else None
            intake_format = listener_format(self.config, formats) if formats else self.config.intake.format
            sources.append(Listener(self.box, self.config.listener, intake_format=intake_format,
                                    client=self.config.intake.client, clock=self.clock, notify=self.new_work,
                                    status=self.status, translate=self.config.translate,
                                    on_problem=self.set_problem))
        if self.config.mllp.enabled:  # HL7 v2 over MLLP (INTERFACE §8)
            from relay.ingest.mllp import MllpListener

            sources.append(MllpListener(self.box, self.config.mllp, client=self.config.intake.client,
                                        clock=self.clock, notify=self.new_work))
        return sources

    def _ignored_noter(self, folder: Path) -> Callable[[list[str]], None]:
        """Names in ``folder`` that match no pattern, kept in the outbox for `relay status` (per folder)."""
        def note(names: list[str]) -> None:
            try:
                self.box.set_control({f"{IGNORED_FILES}{folder}": json.dumps(names) if names else None})
            except EnvironmentProblem as exc:
                log.warning("the ignored files of %s could not be noted in the outbox: %s", folder, exc)
        return note

    @property
    def listener(self) -> Any:
        if not self.config.listener.enabled:
            return None
        from relay.ingest.listener import Listener

        return next((s for s in self.sources if isinstance(s, Listener)), None)

    def set_problem(self, key: str, text: str | None) -> None:
        """A source reports a problem a person should see (or that it cleared). Kept in the outbox so
        `relay status` in another process shows it too."""
        with self._problems_lock:
            changed = self._problems.get(key) != text
            if text is None:
                self._problems.pop(key, None)
            else:
                self._problems[key] = text
            if (changed or not self._problems_saved) and self.outbox is not None:
                values = list(self._problems.values())
                try:
                    self.outbox.set_control({PROBLEMS: json.dumps(values) if values else None})
                    self._problems_saved = True
                except EnvironmentProblem as exc:  # the disk is full, say: this process still shows it
                    self._problems_saved = False
                    log.warning("a problem could not be noted in the outbox for other processes: %s", exc)
        if changed:
            self.events.emit(Problem(key, text))

    def stop(self) -> None:
        if self.heartbeat is not None:
            self.heartbeat.stop()
            self.heartbeat = None
        for source in reversed(self.sources):
            source.stop()
        self.sources.clear()
        if self.sender is not None:
            self.sender.stop()
            self.sender = None
        if self.destination is not None:
            self.destination.close()
            self.destination = None
        if self.outbox is not None:
            try:
                self.outbox.set_control({CLEAN_CLOSE: "1"})
            except RelayError as exc:  # disk full at the very end: the next start checks the file
                log.warning("could not note the clean stop: %s", exc)
            self.outbox.close()
            self.outbox = None
        self._lock.release()
        if self._started:
            log.info("agent stopped")
        self._started = False

    def __enter__(self) -> Agent:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def box(self) -> Outbox:
        if self.outbox is None:
            raise RuntimeError("the agent is not started")
        return self.outbox

    @property
    def person(self) -> ActionsAndControls:
        """The outbox as a person's actions below use it: their role and the control values."""
        return self.box

    # -- actions ---------------------------------------------------------------------------------

    def new_work(self) -> None:
        """Sources call this after committing items: the sender wakes at once."""
        if self.sender is not None:
            self.sender.wake()
        self.events.emit(CountsChanged(self.clock.now()))

    def pause(self, reason: str = "paused by a person") -> None:
        now = self.clock.now()
        self.person.set_control({PAUSED_BY: "person", PAUSED_REASON: reason})
        self.person.audit("pause", now=now, detail=reason)
        self.events.emit(Paused("person", reason, now))
        self.new_work()

    def resume(self) -> None:
        now = self.clock.now()
        self.person.set_control({PAUSED_BY: None, PAUSED_REASON: None, PAUSED_PROBE: None, UNAVAILABLE_UNTIL: None})
        self.person.audit("resume", now=now)
        self.events.emit(Resumed(now))
        if self.sender is not None:
            self.sender.credentials_changed()
        self.new_work()

    def send_now(self) -> int:
        """Everything waiting for a retry is tried at once (maintenance windows still hold)."""
        now = self.clock.now()
        self.person.set_control({UNAVAILABLE_UNTIL: None})
        n = self.person.make_due(now=now)
        self.person.audit("send now", now=now)
        self.new_work()
        return n

    def retry(self, ids: Sequence[int] = (), *, state: ItemState | None = None, actor: str = "person") -> list[int]:
        done = self.person.retry(ids, state=state, now=self.clock.now(), actor=actor)
        self.new_work()
        return done

    def resend(self, ids: Sequence[int], *, actor: str = "person") -> list[int]:
        done = self.person.resend(ids, now=self.clock.now(), actor=actor)
        self.new_work()
        return done

    def discard(self, ids: Sequence[int], *, reason: str | None = None, actor: str = "person") -> list[int]:
        """Failed or dead items set aside by a person (see ``Outbox.discard``); the ids discarded."""
        done = self.person.discard(ids, now=self.clock.now(), actor=actor, reason=reason)
        self.events.emit(CountsChanged(self.clock.now()))
        return done

    def _heartbeat_credential(self) -> str | None:
        """What a heartbeat to the intake's own host carries: the stored token, or under oauth-jwt
        the sender's access token, never the private key. The heartbeat asks the token endpoint
        itself only when the sender holds no good token and is not paused (a refused assertion
        pauses the sender: it is not asked again every heartbeat). None when there is none to be
        had: the heartbeat goes without."""
        if self.config.intake.auth != "oauth-jwt":
            return self._token()
        tokens = getattr(self.destination, "tokens", None)
        if tokens is None:
            return None
        held: str | None = tokens.held()
        if held is not None or self.sender is None or self.sender.state.state == "paused":
            return held
        try:
            token: str = tokens.token()
        except Exception as exc:  # noqa: BLE001  (the sender says why where it matters; a heartbeat goes without)
            log.debug("heartbeat: no access token (%s)", type(exc).__name__)
            return None
        return token

    def set_token(self, token: str) -> None:
        credentials.set_token(token)
        if self.sender is not None:
            self.sender.credentials_changed()

    def status(self) -> Status:
        now = self.clock.now()
        status = read_status(self.box, self.config.maintenance, now)
        with self._problems_lock:  # this process's own list, also when the outbox could not note it
            problems = list(self._problems.values())
        status = status.with_agent(problems, self.sender.state if self.sender is not None else None)
        return status.assessed(self.config.store.path, self.config.health, now)

    def stats(self) -> dict[str, Any]:
        """``status()`` as its JSON object (what /healthz, the heartbeat and `relay status --json` show)."""
        return self.status().to_json()


def set_aside(path: Path, now: float) -> Path:
    """Rename a damaged outbox (and its WAL files) out of the way; never delete it."""
    stamp = datetime.fromtimestamp(now, tz=timezone.utc).strftime("%Y%m%d-%H%M%S")
    aside = path.with_name(f"{path.name}.damaged-{stamp}")
    n = 1
    while aside.exists():
        n += 1
        aside = path.with_name(f"{path.name}.damaged-{stamp}-{n}")
    for suffix in ("-wal", "-shm"):
        extra = path.with_name(path.name + suffix)
        if extra.exists():
            extra.rename(aside.with_name(aside.name + suffix))
    path.rename(aside)
    return aside


PAUSE_KEYS = (PAUSED_BY, PAUSED_REASON, PAUSED_PROBE)


def pause_recorded(outbox: Path) -> dict[str, str]:
    """The pause keys an outbox holds, read while no agent may run on it (empty when there is no
    outbox or it cannot be read). With ``undo_pause_made_by_run``: a screenshot of the desktop app
    is a picture, not a run, and leaves the outbox as it found it."""
    if not outbox.exists():
        return {}
    try:
        with QueryView(outbox) as view:
            return view.get_controls(PAUSE_KEYS)
    except RelayError:
        return {}


def undo_pause_made_by_run(outbox: Path, before: dict[str, str]) -> None:
    """When a run that was not paused before ended paused by the intake's refusal (or for want of a
    credential), lift that pause again, so the next `relay status` does not say "sending is paused"
    because of it. A person's pause is never touched. Call once the agent has stopped."""
    if before.get(PAUSED_BY) is not None or not outbox.exists():
        return
    try:
        with Outbox(outbox, check=False) as box:
            if box.get_control(PAUSED_BY) == "intake":
                box.set_control(dict.fromkeys(PAUSE_KEYS))
                log.info("screenshot: the pause its own run made was lifted again")
    except RelayError as exc:
        log.warning("screenshot: could not lift the pause its run made: %s", exc)


def run_foreground(config: Config) -> int:
    """`relay run`: the agent until SIGINT/SIGTERM, then a graceful stop."""
    stop = threading.Event()

    def on_signal(signum: int, frame: object) -> None:
        stop.set()

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    agent = Agent(config)
    try:
        agent.start()
        log.info("relay %s running; stop with Ctrl-C or SIGTERM", __version__)
        while not stop.wait(0.5):
            pass
    finally:
        agent.stop()
        for s, handler in previous.items():
            signal.signal(s, handler)
    return 0
