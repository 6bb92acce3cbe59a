"""The sender: drains the outbox to the intake, one persisted batch at a time.

``step()`` does one unit of work and says how long to wait before the next; the thread around it
only waits (woken early by new work, resume or stop). Tests drive ``step()`` with a fake clock and
``httpx.MockTransport``; integration tests run the thread against the real stub.
"""

from __future__ import annotations

import logging
import os
import random
import socket
import threading
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, assert_never

from relay.clock import Clock, iso
from relay.config import Config
from relay.delivery.answers import Decision
from relay.delivery.backoff import Backoff
from relay.delivery.destinations import Destination, DestinationContext, open_destination
from relay.delivery.destinations.base import missing_credential
from relay.delivery.destinations.https import MAX_ANSWER_BYTES
from relay.delivery.maintenance import maintenance_until
from relay.delivery.tally import count_request
from relay.delivery.wire import BUILDERS, by_kind
from relay.errors import EnvironmentProblem, IllegalTransition
from relay.events import Delivered, EventBus, ItemsFailed, Paused, Resumed, SenderState
from relay.store.batches import BuildFailed
from relay.store.control import CLOCK_FORWARD_AT, PAUSED_BY, PAUSED_PROBE, PAUSED_REASON, SENDER_KEYS, UNAVAILABLE_UNTIL
from relay.store.models import Batch
from relay.store.roles import BatchLedger, ControlValues, LedgerAndControls

if TYPE_CHECKING:
    import httpx

log = logging.getLogger("relay.delivery")

IDLE_POLL_S = 5.0  # new work from another process (`relay ingest`) is noticed this fast
HOUSEKEEPING_S = 600.0
MAINTENANCE_JITTER_S = 5.0
CLOCK_JUMP_S = 60.0  # a wall clock going back by more than this resets waiting times
DAY = 86_400.0
PROBLEM_KEY = "delivery:error"  # the problem shown while batches cannot be built or sent

__all__ = ["Backoff", "CLOCK_FORWARD_AT", "MAX_ANSWER_BYTES", "Sender"]


class Sender:
    """Policy only: when to send, how often, and what a destination's decision does to the outbox.
    The destination (made by ``open_destination``) does the talking. Tests may pass ``client`` and
    ``token`` instead of a destination: the sender then opens one through a context holding them."""

    def __init__(
        self,
        outbox: LedgerAndControls,
        config: Config,
        *,
        clock: Clock,
        destination: Destination | None = None,
        client: httpx.Client | None = None,
        token: Callable[[], str | None] | None = None,
        events: EventBus | None = None,
        rng: random.Random | None = None,
        on_problem: Callable[[str, str | None], None] | None = None,
    ) -> None:
        if not config.intake.url:
            raise EnvironmentProblem(
                f"{config.source or 'the configuration'}: intake.url is not set; relay does not know where to send"
            )
        self.ledger: BatchLedger = outbox  # the sender's two roles of the outbox, nothing else
        self.control: ControlValues = outbox
        self.config = config
        self.url = config.intake.url
        self.clock = clock
        self._owns_destination = destination is None
        if destination is None:
            destination = open_destination(DestinationContext(config=config, clock=clock,
                                                              secret=token or (lambda: None), http_client=client))
        self.destination = destination
        self.events = events or EventBus()
        self.rng = rng or random.Random()
        self.on_problem = on_problem
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.build = by_kind(BUILDERS[config.intake.format])  # HL7 items go as HL7 batches
        self.max_items = min(config.intake.batch_max_items, destination.max_items or config.intake.batch_max_items)
        d = config.delivery
        self.backoff = Backoff(d.retry_initial_s, d.retry_max_s)
        # A lease must outlast the whole exchange: an answer within timeout_s, and with oauth-jwt up to
        # two token requests and a second post.
        self.lease_s = max(4 * config.intake.timeout_s, config.intake.timeout_s + 120.0)
        self._unavailable_streak = 0
        self._next_probe = 0.0
        self._next_housekeeping = 0.0
        self._last_clock: tuple[float, float] | None = None
        self._state: SenderState | None = None
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._threads: list[threading.Thread] = []
        self._probe_lock = threading.Lock()
        self._unrecorded: list[tuple[Batch, Decision, bool]] = []  # answers the outbox could not take yet
        self._unrecorded_lock = threading.Lock()
        self._leases: dict[int, str] = {}  # batch id -> the lease it was claimed under
        self._local = threading.local()  # per sender thread: the batch claimed with the last answer
        self._problem: str | None = None

    # -- thread -----------------------------------------------------------------------------

    def start(self) -> None:
        self.ledger.reclaim_expired(now=float("inf"))  # leases left by a previous run that died
        self._waits_from_a_clock_put_back(self.clock.now())
        for n in range(self.config.intake.max_in_flight):
            thread = threading.Thread(target=self._run, name=f"relay-sender-{n + 1}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def wake(self) -> None:
        self._wake.set()

    def stop(self, grace_s: float = 5.0) -> None:
        self._stop.set()
        self._wake.set()
        deadline = self.clock.monotonic() + grace_s
        for thread in self._threads:
            thread.join(max(0.0, deadline - self.clock.monotonic()))
        if any(t.is_alive() for t in self._threads):  # a request is in flight: abort it, retried later
            self.destination.close()
            for thread in self._threads:
                thread.join(grace_s)
        self._threads.clear()
        self.ledger.release_owner(self.owner, now=self.clock.now())
        if self._owns_destination:
            self.destination.close()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.clear()
            try:
                delay = self.step(follow=True)
            except EnvironmentProblem as exc:
                log.error("sending stopped for now: %s", exc)
                self._set_state("waiting", str(exc), None)
                delay = 30.0
            except Exception:  # a bug: logged with its traceback, then the loop goes on
                log.exception("sender step failed")
                delay = 30.0
            if delay > 0 and not self._stop.is_set():
                self._wake.wait(delay)

    # -- one unit of work ---------------------------------------------------------------------

    def step(self, *, follow: bool = False) -> float:
        """Send at most one batch. Returns seconds until the sender wants to run again.

        ``follow`` (the sender's own threads, which go on at once): a delivered batch's answer is
        recorded in the same commit as the claim of the next batch, which the next step of this
        thread sends (or gives back, if that step may not send)."""
        now = self.clock.now()
        held = getattr(self._local, "following", None)
        try:
            return self._step(now, follow)
        finally:
            if held is not None and getattr(self._local, "following", None) is held:  # not sent: paused, waiting
                self._give_back_following(now)

    def _step(self, now: float, follow: bool) -> float:
        self._notice_clock_jump(now)
        if self._record_an_earlier_answer():
            return 0.0
        if now >= self._next_housekeeping:
            self.housekeeping(now)
        control = self._control()
        probing = False
        paused_by = control.get(PAUSED_BY)
        if paused_by == "person":
            self._set_state("paused", control.get(PAUSED_REASON), None)
            return 60.0
        if paused_by == "intake":
            if self._next_probe == 0.0 and control.get(PAUSED_PROBE) == "0":
                self._next_probe = float("inf")  # retired sender, from an earlier run: still a person's call
            if self._next_probe == 0.0:  # paused by an earlier run: a restart resumes at once
                self._resume(now)
            elif self._next_probe == float("inf"):  # retired sender: only a person resumes
                self._set_state("paused", control.get(PAUSED_REASON), None)
                return 60.0
            elif now < self._next_probe:
                self._set_state("paused", control.get(PAUSED_REASON), self._next_probe)
                return self._next_probe - now
            elif not self._probe_lock.acquire(blocking=False):
                return 1.0  # another sender thread is probing
            else:
                probing = True
                self._next_probe = now + self.config.delivery.probe_interval_s
        try:
            return self._send_one(now, control, probing, follow)
        finally:
            if probing:
                self._probe_lock.release()

    def _send_one(self, now: float, control: dict[str, str], probing: bool, follow: bool = False) -> float:
        until = maintenance_until(self.config.maintenance, now)
        if until is not None:
            self._set_state("waiting", "intake maintenance window", until)
            return until - now + self.rng.uniform(0, MAINTENANCE_JITTER_S)
        unavailable = float(control[UNAVAILABLE_UNTIL]) if control.get(UNAVAILABLE_UNTIL) else None
        if unavailable is not None and unavailable > now:
            self._set_state("waiting", "the intake asked relay to wait", unavailable)
            return unavailable - now
        batch = self._take_following()  # claimed with the last answer, its lease registered then
        if batch is None:
            lease = self._new_lease()
            try:
                batch = self.ledger.claim(now=now, lease_s=self.lease_s, owner=lease, limit=self.max_items,
                                          build=self.build)
            except BuildFailed as exc:
                wait = self.backoff(1)
                reason = f"relay could not build a batch of these results ({exc.reason}); tried again later"
                log.error("a batch of %d item(s) could not be built: %s", len(exc.item_ids), exc.reason)
                self.ledger.defer_items(exc.item_ids, error=reason, next_at=now + wait, now=now)
                self._report_problem(reason)
                return 0.0
            if batch is None:
                due = self.ledger.next_due_at()
                if due is not None and due > now:
                    self._set_state("waiting", "retrying after an error", due)
                    return min(due - now, IDLE_POLL_S)
                self._set_state("idle", None, None)
                return IDLE_POLL_S
            with self._unrecorded_lock:
                self._leases[batch.id] = lease
        self._set_state("sending", None, None)
        decision = self._deliver(batch)
        count_request(self.control, decision)
        self._record(batch, decision, probing, follow)
        return 0.0

    def _new_lease(self) -> str:
        return f"{self.owner}/{uuid.uuid4().hex[:8]}"  # each claim its own lease: threads are told apart

    def _take_following(self) -> Batch | None:
        batch: Batch | None = getattr(self._local, "following", None)
        self._local.following = None
        return batch

    def _give_back_following(self, now: float) -> None:
        """The batch claimed with the last answer, when a step did not send it (paused, a
        maintenance window, the intake asked to wait): its lease goes back, nothing else changes."""
        batch = self._take_following()
        if batch is None:
            return
        with self._unrecorded_lock:
            lease = self._leases.pop(batch.id, self.owner)
        try:
            self.ledger.release(batch.id, owner=lease, now=now)
        except IllegalTransition:  # its lease ran out meanwhile: nothing to give back
            pass

    def _deliver(self, batch: Batch) -> Decision:
        """The destination's decision; anything it raises is recorded like an unknown outcome, so a
        batch is never left leased with no attempt and no reason."""
        try:
            missing = missing_credential(self.destination)  # the destination's own answer (none for MLLP)
            if missing is not None:
                return Decision("pause", None, missing)
            return self.destination.deliver(batch, lambda: self.ledger.tracking_ids(batch.item_ids))
        except EnvironmentProblem as exc:  # this machine (no keyring, say): said as it is
            log.error("batch %d: cannot send: %s", batch.id, exc)
            reason = f"relay could not send this batch: {exc}; the same batch is retried"
        except Exception as exc:  # a bug or a surprise of a library: logged with its traceback, and shown
            log.exception("batch %d: sending failed", batch.id)
            reason = f"relay could not send this batch ({type(exc).__name__}: {exc}); the same batch is retried"
        self._report_problem(reason)
        return Decision("unknown", None, reason)

    def _report_problem(self, text: str | None) -> None:
        if text == self._problem:
            return
        self._problem = text
        if self.on_problem is not None:
            self.on_problem(PROBLEM_KEY, text)

    def _notice_clock_jump(self, now: float) -> None:
        """The wall clock went back (NTP fix, a wrong clock corrected): retry times computed from the
        old clock would be far in the future, so everything waiting becomes due now."""
        mono = self.clock.monotonic()
        last = self._last_clock
        self._last_clock = (now, mono)
        if last is None:
            return
        wall_delta, mono_delta = now - last[0], mono - last[1]
        if wall_delta > mono_delta + CLOCK_JUMP_S:
            log.warning("the system clock went forward by %.0f s; no result is given up for its age until the "
                        "clock has run on normally for the expiry time", wall_delta - mono_delta)
            self.control.set_control({CLOCK_FORWARD_AT: repr(now)})
        if wall_delta < mono_delta - CLOCK_JUMP_S:
            log.warning("the system clock went back by %.0f s; retry times reset", mono_delta - wall_delta)
            self.ledger.make_due(now=now)
            self.control.set_control({UNAVAILABLE_UNTIL: None})
            self._next_housekeeping = now
            if self._next_probe not in (0.0, float("inf")):
                self._next_probe = now

    def _waits_from_a_clock_put_back(self, now: float) -> None:
        """At start: a previous run whose clock was ahead (since put back) left waits no run of
        relay sets (new items wait for nothing, a retry at most retry_max_s): they are due now."""
        d = self.config.delivery
        n = self.ledger.make_future_due(now=now, items_after=now + CLOCK_JUMP_S,
                                        batches_after=now + d.retry_max_s + CLOCK_JUMP_S)
        until = self.control.get_control(UNAVAILABLE_UNTIL)
        if until is not None and float(until) > now + d.unavailable_max_s + CLOCK_JUMP_S:
            self.control.set_control({UNAVAILABLE_UNTIL: None})
            n += 1
        if n:
            log.warning("waiting times set by a clock that was ahead were reset (%d)", n)

    def _control(self) -> dict[str, str]:
        return self.control.get_controls(SENDER_KEYS)

    def _record(self, batch: Batch, decision: Decision, probing: bool, follow: bool = False) -> None:
        """Apply the intake's answer. If the outbox cannot take it now (disk full), keep it and apply
        it first on a later step, rather than leave the batch leased until its lease runs out."""
        try:
            self._apply(batch, decision, probing, follow)
        except EnvironmentProblem:
            with self._unrecorded_lock:
                self._unrecorded.append((batch, decision, probing))
            raise
        except IllegalTransition:  # the lease ran out while the request ran: the next attempt settles it
            log.warning("batch %d: its lease ran out before the answer came; it goes again with the same key",
                        batch.id)
        with self._unrecorded_lock:
            self._leases.pop(batch.id, None)

    def _record_an_earlier_answer(self) -> bool:
        with self._unrecorded_lock:
            if not self._unrecorded:
                return False
            batch, decision, probing = self._unrecorded.pop(0)
        try:
            self._record(batch, decision, probing)
        except IllegalTransition:  # recorded after all, or the lease ran out: then it goes again, same key
            log.info("batch %d: its answer was recorded already or its lease ran out", batch.id)
        return True

    def _apply(self, batch: Batch, d: Decision, probing: bool, follow: bool = False) -> None:
        now = self.clock.now()
        n = len(batch.item_ids)
        kind = d.kind
        with self._unrecorded_lock:
            lease = self._leases.get(batch.id, self.owner)
        log.info("batch %d (%d items, key %s, attempt %d): %s %s", batch.id, n, batch.idempotency_key,
                 batch.attempts + 1, kind, d.status if d.status is not None else "-")
        if kind != "unavailable":
            self._unavailable_streak = 0
        if kind == "delivered":
            if follow and not probing and not self._stop.is_set():
                next_lease = self._new_lease()
                _, following = self.ledger.complete_and_claim(
                    batch.id, owner=lease, receipt=d.receipt or "", status=d.status or 0, now=now,
                    lease_s=self.lease_s, next_owner=next_lease, limit=self.max_items, build=self.build)
                if following is not None:
                    with self._unrecorded_lock:
                        self._leases[following.id] = next_lease
                    self._local.following = following
            else:
                self.ledger.complete(batch.id, owner=lease, receipt=d.receipt or "", status=d.status or 0, now=now)
            if probing or self._control().get(UNAVAILABLE_UNTIL):
                self._resume(now)
            self._report_problem(None)
            self.events.emit(Delivered(batch.id, n, now))
        elif kind == "unavailable":
            self._unavailable_streak += 1
            wait = d.retry_after_s if d.retry_after_s is not None else self.backoff(self._unavailable_streak)
            wait = min(max(wait, 1.0), self.config.delivery.unavailable_max_s)
            self.control.set_control({UNAVAILABLE_UNTIL: repr(now + wait)})
            self.ledger.backoff(batch.id, owner=lease, next_at=now + wait, status=d.status, error=d.message,
                                now=now, count_attempt=False)
            self._set_state("waiting", d.message, now + wait)
        elif kind == "unknown" or kind == "retry_later":
            wait = self.backoff(batch.attempts + 1)
            self.ledger.backoff(batch.id, owner=lease, next_at=now + wait, status=d.status, error=d.message,
                                now=now)
        elif kind == "reject_items":
            failed, _ = self.ledger.reject_items(batch.id, owner=lease, failures=d.failures,
                                                 status=d.status or 400, now=now, held=d.held,
                                                 receipt=d.receipt or "already at the intake")
            if d.held:
                self.events.emit(Delivered(batch.id, len(d.held), now))
            if failed:
                self.events.emit(ItemsFailed(len(failed), d.message, now))
        elif kind == "split" and n > 1:
            self.ledger.split(batch.id, owner=lease, build=self.build, status=d.status, reason=d.message,
                              now=now)
        elif kind == "split" or kind == "fail_batch":
            failed = self.ledger.fail_batch(batch.id, owner=lease, reason=d.message, status=d.status, now=now)
            self.events.emit(ItemsFailed(len(failed), d.message, now))
        elif kind == "pause":
            self.ledger.release(batch.id, owner=lease, now=now)
            self._pause_by_intake(now, d.message, probe=d.pause_probe)
        else:  # pragma: no cover - mypy checks that every DecisionKind has its branch above
            assert_never(kind)

    # -- pause / resume -----------------------------------------------------------------------

    def _pause_by_intake(self, now: float, reason: str, *, probe: bool = True) -> None:
        self._next_probe = now + self.config.delivery.probe_interval_s if probe else float("inf")
        if self.control.pause_by_intake(reason, probe=probe):
            log.warning("sending paused: %s", reason)
            self.events.emit(Paused("intake", reason, now))
        self._set_state("paused", reason, self._next_probe if probe else None)

    def _resume(self, now: float) -> None:
        """After a delivery (or at start): lift the intake's pause and a Retry-After that has passed;
        a person's pause, or a Retry-After another answer just set, stays."""
        self._next_probe = 0.0
        if self.control.clear_intake_pause(now=now):
            log.info("sending resumed")
            self.events.emit(Resumed(now))

    def credentials_changed(self) -> None:
        """A new credential was stored: try again at once."""
        if self._control().get(PAUSED_BY) == "intake":
            self._next_probe = self.clock.now()
        self.wake()

    def _set_state(self, state: str, reason: str | None, until: float | None) -> None:
        new = SenderState(state, reason, until)
        if new != self._state:
            self._state = new
            if state in ("waiting", "paused") and until:
                log.info("sender %s until %s: %s", state, iso(until), reason)
            self.events.emit(new)

    @property
    def state(self) -> SenderState:
        return self._state or SenderState("idle")

    def housekeeping(self, now: float) -> None:
        d = self.config.delivery
        self.ledger.reclaim_expired(now=now)
        # Ages measured across a forward jump of the clock are wrong (a machine that booted in 2000
        # and was put right): nothing is given up for its age until they are right again.
        jumped = float(self.control.get_control(CLOCK_FORWARD_AT) or "-inf")
        if not 0 <= now - jumped < d.expire_after_days * DAY:
            self.ledger.expire(now=now, after_days=d.expire_after_days)
        self.ledger.purge(now=now, retention_days=d.retention_days)
        self._next_housekeeping = now + HOUSEKEEPING_S
