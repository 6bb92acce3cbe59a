"""The sender talks to a Destination: it honours the destination's item cap, and the agent refuses
at start a format the destination cannot carry, naming the sources."""

from __future__ import annotations

import pytest

from relay.clock import FakeClock
from relay.config import from_dict
from relay.delivery.answers import Decision
from relay.delivery.destinations.base import OK, ProbeResult
from relay.delivery.fit import check_formats
from relay.delivery.sender import Sender
from relay.errors import ConfigError
from relay.store.outbox import Outbox
from tests.helpers.builders import new_item


class OneAtATime:
    """A destination that takes one item a batch (as MLLP does) and accepts everything."""

    formats = frozenset({"hl7"})
    max_items = 1

    def __init__(self):
        self.batches = []

    def deliver(self, batch, tracking_ids):
        self.batches.append(batch)
        return Decision("delivered", None, "delivered", receipt=f"ack-{batch.id}")

    def probe(self):
        return ProbeResult(OK, "fine")

    def close(self):
        pass


def config(tmp_path, **extra):
    return from_dict({"intake": {"url": "https://intake.example.org/api/waters", "batch_max_items": 50},
                      "store": {"path": str(tmp_path / "o.db")}, **extra}, None)


def test_claims_honour_the_destinations_max_items(tmp_path):
    destination = OneAtATime()
    clock = FakeClock()
    with Outbox(tmp_path / "o.db") as box:
        box.add_items([new_item(i) for i in range(3)], source="file", client="c", now=clock.now())
        sender = Sender(box, config(tmp_path), destination=destination, clock=clock)
        for _ in range(3):
            sender.step()
        assert [len(b.item_ids) for b in destination.batches] == [1, 1, 1]
        assert box.counts().by_state["sent"] == 3


def test_a_format_the_destination_cannot_carry_is_refused_naming_the_sources(tmp_path):
    inbox = tmp_path / "inbox"
    cfg = config(tmp_path, watch=[{"folder": str(inbox)}], listener={"enabled": True, "port": 8799})
    with pytest.raises(ConfigError) as caught:
        check_formats(cfg, OneAtATime())
    text = str(caught.value)
    assert f"watched folder {inbox}" in text and "HL7 v2 messages only" in text
    assert "local listener" not in text  # it takes both, and refuses rows at its door (INTERFACE §9)
    assert "intake.format is 'csv'" in text and "[translate]" in text


class NeedsASecret(OneAtATime):
    """A destination that needs a stored secret and says so."""

    def __init__(self, secret):
        super().__init__()
        self.secret = secret

    def missing_credential(self):
        return None if self.secret() else "no secret is stored: run `relay token set`"


def test_the_sender_pauses_with_the_destinations_reason_and_goes_on_once_a_secret_is_stored(tmp_path):
    stored = []
    destination = NeedsASecret(lambda: stored[0] if stored else None)
    clock = FakeClock()
    with Outbox(tmp_path / "o.db") as box:
        box.add_items([new_item(1)], source="file", client="c", now=clock.now())
        sender = Sender(box, config(tmp_path), destination=destination, clock=clock)
        sender.step()
        assert destination.batches == []
        assert sender.state.state == "paused" and "relay token set" in sender.state.reason
        stored.append("s3cret")
        sender.credentials_changed()
        sender.step()
        assert len(destination.batches) == 1 and box.counts().by_state["sent"] == 1


def test_a_format_the_destination_carries_passes(tmp_path):
    from relay.delivery.destinations import DestinationContext, open_destination

    cfg = config(tmp_path)
    destination = open_destination(DestinationContext(config=cfg, clock=FakeClock(), secret=lambda: None))
    try:
        check_formats(cfg, destination)
    finally:
        destination.close()


def test_an_error_while_sending_shows_as_a_problem_of_the_agent(tmp_path):
    import httpx

    from relay.agent import Agent
    from tests.helpers.waiting import wait_until

    def handler(request):
        raise RuntimeError("a library surprised us")

    cfg = config(tmp_path, listener={"enabled": False})
    agent = Agent(cfg, http_client=httpx.Client(transport=httpx.MockTransport(handler)), token=lambda: "t")
    with agent:
        agent.box.add_items([new_item(1)], source="file", client="c", now=agent.clock.now())
        agent.new_work()
        problems = wait_until(lambda: [p for p in agent.stats()["problems"] if "a library surprised us" in p])
        assert "relay could not send this batch (RuntimeError" in problems[0]
        wait_until(lambda: agent.box.get_item(1).last_error == problems[0])
        assert agent.box.get_item(1).state in ("pending", "sending")
