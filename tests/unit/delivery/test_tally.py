"""Each intake request is counted by what it came to (relay_intake_requests_total{outcome})."""

from __future__ import annotations

import httpx

from relay.clock import FakeClock
from relay.config import from_dict
from relay.delivery.sender import Sender
from relay.status import snapshot
from relay.store.outbox import Outbox
from tests.helpers.builders import new_item

URL = "http://127.0.0.1:9/api/waters"


def test_every_answer_class_lands_in_its_outcome(tmp_path):
    answers = [httpx.Response(503, headers={"Retry-After": "1"}), httpx.Response(500),
               httpx.ConnectError("refused"), httpx.Response(422, json={"message": "bad batch"}),
               httpx.Response(401), httpx.Response(201, json={"id": "r-1"})]
    seen = []

    def intake(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    config = from_dict({"intake": {"url": URL, "batch_max_items": 1}, "store": {"path": str(tmp_path / "o.db")},
                        "delivery": {"retry_initial_s": 1, "retry_max_s": 1, "probe_interval_s": 1}}, None)
    clock = FakeClock()
    with Outbox(config.store.path) as box:
        box.add_items([new_item(n) for n in range(3)], source="t", client="c", now=clock.now())
        sender = Sender(box, config, client=httpx.Client(transport=httpx.MockTransport(intake)), clock=clock,
                        token=lambda: "secret")
        while answers:
            clock.advance(5)  # past every wait the answers set
            sender.step()
        counts = snapshot(box, (), clock.now())["intake_requests"]
    assert len(seen) == 6
    assert counts == {"delivered": 1, "rejected": 1, "unavailable": 1, "refused": 1, "error": 2}
