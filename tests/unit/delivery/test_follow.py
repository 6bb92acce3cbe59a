"""The sender's own threads go on at once after an answer: the batch's answer and the claim of
the next batch are one durable commit, and a batch claimed so is given back when the next step may
not send it (a person paused sending, the intake asked to wait)."""

from __future__ import annotations

import httpx
import pytest

from relay.clock import FakeClock
from relay.config import from_dict
from relay.delivery.sender import Sender
from relay.store.control import PAUSED_BY, PAUSED_REASON, UNAVAILABLE_UNTIL
from relay.store.outbox import Outbox
from tests.helpers.builders import new_item
from tests.helpers.commits import count_transactions


@pytest.fixture
def rig(tmp_path):
    requests: list[httpx.Request] = []

    def handler(request):
        requests.append(request)
        return httpx.Response(201, json={"id": f"r{len(requests)}"})

    config = from_dict({"intake": {"url": "https://intake.example.org/api/waters", "batch_max_items": 2},
                        "store": {"path": str(tmp_path / "o.db")}}, None)
    clock = FakeClock()
    box = Outbox(config.store.path)
    sender = Sender(box, config, client=httpx.Client(transport=httpx.MockTransport(handler)), clock=clock,
                    token=lambda: "t")
    box.add_items([new_item(n) for n in range(6)], source="t", client="c", now=clock.now())
    commits = count_transactions(box)
    yield sender, box, clock, requests, commits
    box.close()


def leased(box):
    return box.db.conn.execute("SELECT count(*) FROM batches WHERE lease_owner IS NOT NULL").fetchone()[0]


def test_each_batch_after_the_first_costs_one_commit(rig):
    sender, box, clock, requests, commits = rig
    sender.step(follow=True)  # (housekeeping,) claim, send, then the answer + the claim of the next
    assert len(requests) == 1 and leased(box) == 1
    before = commits[0]
    sender.step(follow=True)
    sender.step(follow=True)
    assert len(requests) == 3 and commits[0] - before == 2  # one commit for each further batch
    assert box.counts().by_state["sent"] == 6 and leased(box) == 0
    # the request counts rode with the answers
    assert box.get_control("intake_requests.delivered") == "3"


def test_without_follow_a_step_leaves_nothing_leased(rig):
    sender, box, clock, requests, commits = rig
    sender.step()
    assert len(requests) == 1 and leased(box) == 0 and box.counts().by_state["pending"] == 4


@pytest.mark.parametrize("stop", ["person", "intake asked to wait"])
def test_a_batch_claimed_with_an_answer_is_given_back_when_the_next_step_may_not_send(rig, stop):
    sender, box, clock, requests, commits = rig
    sender.step(follow=True)
    assert leased(box) == 1 and box.counts().by_state["sending"] == 2
    if stop == "person":
        box.set_control({PAUSED_BY: "person", PAUSED_REASON: "lab closed"})
    else:
        box.set_control({UNAVAILABLE_UNTIL: repr(clock.now() + 600)})
    sender.step(follow=True)
    assert len(requests) == 1, "a batch went out although sending may not go on"
    assert leased(box) == 0 and box.counts().by_state == {**box.counts().by_state, "sending": 0, "pending": 4}
    box.set_control({PAUSED_BY: None, PAUSED_REASON: None, UNAVAILABLE_UNTIL: None})
    while sender.step(follow=True) == 0.0 and len(requests) < 10:
        pass
    assert len(requests) == 3 and box.counts().by_state["sent"] == 6
