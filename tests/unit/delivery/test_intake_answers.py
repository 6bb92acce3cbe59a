"""Intake answers read as a real intake (ReportStream) means them (INTERFACE §5a), each case against
a scripted intake on loopback through the real HttpsDestination and its real HTTP client."""

from __future__ import annotations

import time

import pytest

from relay.clock import FakeClock
from relay.config import from_dict
from relay.delivery.destinations import DestinationContext, open_destination
from relay.delivery.destinations.https import HttpsDestination
from relay.delivery.sender import Sender
from relay.events import Delivered
from relay.store.control import PAUSED_BY, PAUSED_REASON
from relay.store.outbox import Outbox
from tests.helpers.builders import new_item
from tests.helpers.scripted_intake import Answer, ScriptedIntake


@pytest.fixture
def rig(tmp_path):
    made = []

    def make(intake: ScriptedIntake, *, timeout_s: float = 10, batch: int = 10):
        config = from_dict({"intake": {"url": intake.url, "batch_max_items": batch, "timeout_s": timeout_s},
                            "store": {"path": str(tmp_path / "o.db")},
                            "delivery": {"retry_initial_s": 1, "retry_max_s": 60}}, None)
        clock = FakeClock()
        box = Outbox(config.store.path)
        destination = open_destination(DestinationContext(config=config, clock=clock, secret=lambda: "tok"))
        problems: list[tuple[str, str | None]] = []
        sender = Sender(box, config, destination=destination, clock=clock,
                        on_problem=lambda key, text: problems.append((key, text)))
        made.append((box, destination))
        return sender, box, clock, problems

    yield make
    for box, destination in made:
        destination.close()
        box.close()


def fill(box, clock, n, name="results.csv"):
    return box.add_items([new_item(i) for i in range(n)], source="file", client="simple_report.default",
                         now=clock.now(), source_name=name).ids


def states(box):
    return {k: v for k, v in box.counts().by_state.items() if v}


def test_the_https_scheme_opens_the_https_destination(rig):
    with ScriptedIntake(Answer(201, {"id": "r"})) as intake:
        sender, *_ = rig(intake)
        assert isinstance(sender.destination, HttpsDestination)


@pytest.mark.parametrize("answer", [
    Answer(400, "Resubmit as 'POST /api/waters' with client=simple_report.default"),
    Answer(400, {"errors": [{"scope": "parameter", "message": "'client:nobody': unknown client"}],
                 "errorCount": 1}),
    Answer(400, ""),
])
def test_a_400_refusing_the_request_pauses_and_fails_nothing(rig, answer):
    with ScriptedIntake(answer, Answer(201, {"id": "r"})) as intake:
        sender, box, clock, _ = rig(intake)
        fill(box, clock, 4)
        for _ in range(5):
            sender.step()
        assert len(intake.requests) <= 2
        assert states(box) == {"pending": 4}
        assert box.get_control(PAUSED_BY) == "intake"
        reason = box.get_control(PAUSED_REASON)
        assert "400" in reason
        said = answer.body if isinstance(answer.body, str) else answer.body["errors"][0]["message"]
        assert said in reason


def test_a_400_with_report_errors_naming_no_items_is_split_as_before(rig):
    with ScriptedIntake(Answer(400, {"errors": [{"scope": "report", "message": "malformed"}]})) as intake:
        sender, box, clock, _ = rig(intake)
        fill(box, clock, 2)
        for _ in range(4):
            sender.step()
        assert states(box) == {"failed": 2} and len(intake.requests) == 3


def test_items_the_intake_already_holds_count_as_delivered(rig):
    held = {"scope": "item", "indices": [1, 3], "trackingIds": ["id-0", "id-2"], "message": "Item is a duplicate."}
    with ScriptedIntake(Answer(400, {"id": "rep-1", "errors": [held], "errorCount": 2}),
                        Answer(201, {"id": "rep-2"})) as intake:
        sender, box, clock, _ = rig(intake)
        events = []
        sender.events.subscribe(events.append)
        ids = fill(box, clock, 4)
        sender.step()
        assert [box.get_item(i).state for i in ids] == ["sent", "pending", "sent", "pending"]
        assert "already at the intake" in box.get_item(ids[0]).receipt
        assert box.get_item(ids[0]).sent_at == clock.now()
        assert any(isinstance(e, Delivered) and e.count == 2 for e in events)
        sender.step()
        assert states(box) == {"sent": 4}
        second = intake.requests[1].body.decode()
        assert "id-1" in second and "id-3" in second and "id-0" not in second  # only the rest went again


def test_all_duplicates_words_inside_an_item_message_do_not_deliver_the_batch(rig):
    trap = {"scope": "item", "indices": [2],
            "message": "Note says: All items in this submission are duplicates"}
    with ScriptedIntake(Answer(400, {"errors": [trap]}), Answer(201, {"id": "r"})) as intake:
        sender, box, clock, _ = rig(intake)
        ids = fill(box, clock, 3)
        sender.step()
        assert box.get_item(ids[1]).state == "failed"
        assert {box.get_item(i).state for i in (ids[0], ids[2])} == {"pending"}


def test_all_duplicates_as_the_top_level_message_delivers(rig):
    answer = {"message": "All items in this submission are duplicates.", "errors": [], "id": None}
    with ScriptedIntake(Answer(400, answer)) as intake:
        sender, box, clock, _ = rig(intake)
        fill(box, clock, 2)
        sender.step()
        assert states(box) == {"sent": 2}


def test_a_trickling_answer_is_a_timeout_not_a_held_sender(rig):
    with ScriptedIntake(Answer(201, {"id": "r", "pad": "x" * 200}, trickle_s=0.05)) as intake:
        sender, box, clock, _ = rig(intake, timeout_s=1)
        fill(box, clock, 1)
        started = time.monotonic()
        sender.step()
        elapsed = time.monotonic() - started
        assert elapsed < 2.5, elapsed  # the whole answer needs ~12 s at this pace
        item = box.get_item(1)
        assert item.state == "pending" and item.attempts == 1
        assert "no complete answer from the intake within 1 s" in item.last_error


@pytest.mark.parametrize("name, sent", [
    ("résultats-été.csv", "r%C3%A9sultats-%C3%A9t%C3%A9.csv"),
    ("two\nlines.csv", "two%0Alines.csv"),
    ("  leading.csv", "%20%20leading.csv"),
    ("50%.csv", "50%25.csv"),
])
def test_any_file_name_goes_as_a_percent_encoded_payloadname(rig, name, sent):
    with ScriptedIntake(Answer(201, {"id": "r"})) as intake:
        sender, box, clock, _ = rig(intake)
        fill(box, clock, 1, name=name)
        sender.step()
        assert states(box) == {"sent": 1}
        assert intake.requests[0].headers["payloadname"] == sent
