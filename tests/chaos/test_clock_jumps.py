"""The system clock jumps (an NTP correction, a person fixing a wrong clock, a machine that boots
with a dead clock battery and is put right later).

Driven through ``Sender.step()`` with the injected FakeClock (wall clock jumps; monotonic time only
moves forward) against an intake that honours idempotency keys like the real one, and through the
Agent against the real stub. Every time: nothing is lost, nothing is sent twice, no item is given
up (dead), and leases left by a process that died are recovered.
"""

from __future__ import annotations

import csv
import io
import json
from collections import Counter

import httpx
import pytest

from relay.agent import Agent
from relay.clock import FakeClock
from relay.config import from_dict
from relay.delivery.sender import Sender
from relay.delivery.wire import build_csv
from relay.ingest.files import ingest_file
from relay.samples import write_simple_report
from relay.status import UNAVAILABLE_UNTIL
from relay.store.outbox import Outbox
from tests.chaos.support import wait_until
from tests.helpers.builders import new_item
from tests.helpers.stub_server import stub_server

DAY = 86_400.0
URL = "http://127.0.0.1:9/api/waters"
TOKEN = "clock-jump-token-0123456789"


class Intake:
    """An intake that, like the real one, replays the first answer for a repeated Idempotency-Key.
    ``script`` says what happens to each new key in turn: "ok", "500" (before storing), "504" (stored,
    reply lost), "drop" (connection lost before storing), "503" (unavailable, Retry-After 600 s)."""

    def __init__(self, *script: str) -> None:
        self.script = list(script)
        self.answers: dict[str, tuple[int, bytes]] = {}
        self.stored: Counter[str] = Counter()  # Result_ID -> times stored
        self.requests = 0

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests += 1
        key = request.headers["idempotency-key"]
        if key in self.answers:
            status, body = self.answers[key]
            return httpx.Response(status, content=body)
        fault = self.script.pop(0) if self.script else "ok"
        if fault == "500":
            return httpx.Response(500, content=b"oops")
        if fault == "503":
            return httpx.Response(503, headers={"Retry-After": "600"}, content=b"maintenance")
        if fault == "drop":
            raise httpx.ReadError("connection lost", request=request)
        for row in csv.DictReader(io.StringIO(request.content.decode("utf-8"))):
            self.stored[row["Result_ID"]] += 1
        answer = (201, json.dumps({"id": f"receipt-{len(self.answers) + 1}"}).encode())
        self.answers[key] = answer
        return httpx.Response(504 if fault == "504" else answer[0], content=b"" if fault == "504" else answer[1])


@pytest.fixture
def rig(tmp_path):
    made = []

    def make(intake: Intake, clock: FakeClock | None = None, box: Outbox | None = None):
        config = from_dict({"intake": {"url": URL, "batch_max_items": 3},
                            "store": {"path": str(tmp_path / "outbox.db")},
                            "delivery": {"retry_initial_s": 1, "retry_max_s": 60}}, None)
        clock = clock or FakeClock()
        box = box or Outbox(config.store.path)
        made.append(box)
        sender = Sender(box, config, client=httpx.Client(transport=httpx.MockTransport(intake)), clock=clock,
                        token=lambda: TOKEN)
        return sender, box, clock

    yield make
    for box in made:
        box.close()


def fill(box, clock, n, start=0):
    box.add_items([new_item(i) for i in range(start, start + n)], source="test", client="simple_report.default", now=clock.now(),
                  source_name="results.csv")


def drain(sender, box, limit=50):
    for _ in range(limit):
        sender.step()
        if box.counts().by_state["sent"] + box.counts().by_state["dead"] == box.count_items():
            return
    raise AssertionError(f"not drained: {box.counts().by_state}")


def states(box):
    return {k: v for k, v in box.counts().by_state.items() if v}


def test_clock_back_a_day_makes_every_wait_due_and_each_item_goes_once(rig):
    intake = Intake("500", "504", "503")
    sender, box, clock = rig(intake)
    fill(box, clock, 9)
    for _ in range(4):  # 500 -> backoff; 504 (stored, reply lost) -> backoff; 503 -> the intake waits 600 s
        sender.step()
    assert states(box) == {"pending": 9} and intake.requests == 3
    assert sender.step() > 60  # waiting for the intake, by the old clock
    clock.set(clock.now() - DAY)
    drain(sender, box)
    assert states(box) == {"sent": 9}
    assert set(intake.stored.values()) == {1} and len(intake.stored) == 9
    assert intake.requests == 6  # each batch once more: the 504 one was answered from the replay


def test_clock_forward_recovers_a_dead_process_lease_and_sends_once(rig, tmp_path):
    intake = Intake()
    sender, box, clock = rig(intake)
    fill(box, clock, 3)
    # A process claimed a batch, the intake stored it, and the process died before the answer.
    batch = box.claim(now=clock.now(), lease_s=120, owner="host:999:dead", limit=3, build=build_csv)
    intake(httpx.Request("POST", URL, content=batch.body, headers={"idempotency-key": batch.idempotency_key}))
    assert sender.step() > 0 and intake.requests == 1  # the lease still holds: nothing sent
    clock.set(clock.now() + 6 * 3600)  # the wall clock jumps forward past the lease
    drain(sender, box)
    assert states(box) == {"sent": 3}
    assert intake.requests == 2 and set(intake.stored.values()) == {1}  # the same key, replayed


def test_clock_put_back_while_relay_was_down_delays_nothing(rig):
    """A run whose clock was a day ahead died holding a lease, with results waiting; the clock was
    put right before relay started again. Nothing may wait for the old clock to come round."""
    intake = Intake("500")
    sender, box, clock = rig(intake)
    fill(box, clock, 3)
    sender.step()  # 500: that batch waits for a retry
    box.claim(now=clock.now(), lease_s=120, owner="host:999:dead", limit=3, build=build_csv)  # died holding it
    fill(box, clock, 7, start=3)  # and these never got into a batch
    box.set_control({UNAVAILABLE_UNTIL: repr(clock.now() + 600)})
    clock.set(clock.now() - DAY)
    restarted, _, _ = rig(intake, clock, box)
    restarted.start()
    try:
        wait_until(lambda: states(box) == {"sent": 10}, 20, "everything sent after the restart")
    finally:
        restarted.stop()
    assert set(intake.stored.values()) == {1} and len(intake.stored) == 10


def test_clock_put_right_years_forward_gives_nothing_up(rig):
    """A machine booted with a dead clock battery (year 2000), took results, and then NTP put the
    clock right: the results are minutes old, not 26 years; none may be declared dead."""
    clock = FakeClock(start=946_684_800.0)  # 2000-01-01
    intake = Intake("500", "500", "500")
    sender, box, clock = rig(intake, clock)
    fill(box, clock, 9)
    for _ in range(3):
        sender.step()
    assert states(box) == {"pending": 9}
    clock.set(1_795_000_000.0)  # 2026-11-18: put right
    drain(sender, box)
    assert states(box) == {"sent": 9}, "results were given up because the clock was put right"
    assert set(intake.stored.values()) == {1}


def test_after_a_forward_jump_results_expire_once_the_clock_has_run_the_expiry_time(rig):
    intake = Intake(*["500"] * 100)
    sender, box, clock = rig(intake)
    fill(box, clock, 3)
    sender.step()
    clock.set(clock.now() + 30 * DAY)  # jumped: the 30 days are not an age
    sender.step()
    sender.housekeeping(clock.now())
    assert states(box) == {"pending": 3}
    clock.advance(13 * DAY)  # the clock runs on normally: still within the 14 days
    sender.housekeeping(clock.now())
    assert states(box) == {"pending": 3}
    clock.advance(DAY)  # 14 days of real running: the results are truly that old now
    sender.housekeeping(clock.now())
    assert states(box) == {"dead": 3}


@pytest.mark.slow
def test_agent_through_clock_jumps_back_and_forth_delivers_each_result_once(tmp_path, figures):
    clock = FakeClock()
    db = tmp_path / "outbox.db"
    with Outbox(db) as box:  # results from a run that died holding a lease
        path = write_simple_report(tmp_path / "export.csv", 300, seed=21)
        ingest_file(box, path, client="simple_report.default", source="test", now=clock.now(), report_dir=tmp_path)
        box.claim(now=clock.now(), lease_s=3600, owner="host:1:dead", limit=20, build=build_csv)
    jumps = []
    with stub_server(token=TOKEN, fail_rate=0.5, seed=4) as stub:
        config = from_dict({"intake": {"url": stub.url, "batch_max_items": 20, "timeout_s": 5},
                            "store": {"path": str(db)}, "listener": {"enabled": False},
                            "delivery": {"retry_initial_s": 30, "retry_max_s": 600}}, None)
        agent = Agent(config, clock=clock, token=lambda: TOKEN)
        agent.start()
        try:
            def settled() -> bool:
                """Everything due at this (fake) moment has been tried: what is left waits for the
                clock (a backoff, or the lease of the run that died). Reached at any fixed fake
                time, however slowly the machine goes, because every attempt ends in a delivery or
                a backoff into the fake future."""
                due = agent.box.next_due_at()
                return (due is None or due > clock.now()) and agent.sender.state.state in ("idle", "waiting")

            for step, delta in enumerate((-2 * DAY, 3 * DAY, -7 * 3600, 5 * 3600, -DAY, 2 * DAY, 3 * DAY)):
                wait_until(lambda: agent.stats()["sent"] == 300 or settled(), 120, f"a wait before jump {step + 1}")
                if agent.stats()["sent"] == 300:
                    break
                clock.set(clock.now() + delta)
                jumps.append(delta)
                agent.new_work()
            wait_until(lambda: agent.stats()["sent"] == 300 or (clock.advance(600) or agent.new_work()), 120,
                       "everything delivered")
            snap = agent.stats()
        finally:
            agent.stop()
        stats = stub.stats()
    figures(f"agent: {len(jumps)} wall-clock jumps {[f'{d / 3600:+.0f} h' for d in jumps]}; intake requests "
            f"{stats['requests']}, faults {sum(stats['faults'].values())}; sent {snap['sent']}, dead {snap['dead']}, "
            f"duplicates at the intake {stats['duplicates_received']}")
    # The dead run's lease holds one batch an hour into the fake future, so the clock is put back
    # while results wait and must then go forward past that lease; how many more jumps the faults
    # need depends on which requests fail (the two sender threads race for them).
    assert len(jumps) >= 2 and jumps[0] < 0 and any(d > 0 for d in jumps), \
        "the clock never jumped both ways while results waited: the jumps proved nothing"
    assert (snap["sent"], snap["dead"], snap["failed"]) == (300, 0, 0)
    assert stats["unique_items"] == stats["accepted_items"] == 300 and stats["duplicates_received"] == 0
