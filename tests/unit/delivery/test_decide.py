"""decide(): what an intake answer means, pure; and errors while building or sending a batch,
through the sender with httpx.MockTransport."""

from __future__ import annotations

import json

import httpx
import pytest

from relay.clock import FakeClock
from relay.config import from_dict
from relay.delivery.answers import decide
from relay.delivery.sender import PROBLEM_KEY, Sender
from relay.store.models import NewItem
from relay.store.outbox import Outbox
from tests.helpers.builders import new_item


def d(status, body, n=4, tracking=("a", "b", "c", "d")):
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return decide(status, raw, {}, now=0.0, n_items=n, tracking_ids=lambda: list(tracking))


@pytest.mark.parametrize("body", [
    b"Resubmit as 'POST /api/waters'",
    b"<html><body>Bad Request</body></html>",
    {"errors": [{"scope": "parameter", "message": "'client:x': unknown client"}]},
    {"errors": [{"scope": "parameter", "message": "bad content type"},
                {"scope": "Parameter", "message": "bad format"}]},
])
def test_a_request_refusal_pauses_with_the_intakes_words(body):
    decision = d(400, body)
    assert decision.kind == "pause" and decision.status == 400 and decision.pause_probe
    first = body.decode() if isinstance(body, bytes) else body["errors"][0]["message"]
    assert " ".join(first.split()) in decision.message


def test_report_scope_or_mixed_scope_errors_are_split():
    assert d(400, {"errors": [{"scope": "report", "message": "malformed"}]}).kind == "split"
    assert d(400, {"errors": [{"scope": "parameter", "message": "x"}, {"scope": "report", "message": "y"}]}).kind \
        == "split"
    assert d(400, {"message": "no errors list"}).kind == "split"


def test_item_is_a_duplicate_marks_held_positions_by_index_or_tracking_id():
    decision = d(400, {"errors": [{"scope": "item", "indices": [2], "message": "Item is a duplicate."},
                                  {"scope": "item", "trackingIds": ["c"], "message": "Item is a duplicate."},
                                  {"scope": "item", "indices": [4], "message": "Missing DOB", "field": "dob"}]})
    assert decision.kind == "reject_items" and decision.held == (2, 3)
    assert decision.failures == {4: "Missing DOB (field dob)"}
    assert decision.receipt == "already at the intake"


def test_every_item_held_is_a_delivery():
    decision = d(400, {"id": "r1", "errors": [{"scope": "item", "indices": [1, 2], "message": "Item is a duplicate."}]},
                 n=2)
    assert decision.kind == "delivered" and decision.receipt == "already at the intake (answer r1)"


@pytest.mark.parametrize("body, kind", [
    ({"message": "All items in this submission are duplicates."}, "delivered"),
    ({"errors": [{"scope": "report", "message": "All items in this submission are duplicates"}]}, "delivered"),
    (b"All items in this submission are duplicates.", "delivered"),
    ({"errors": [{"scope": "item", "indices": [1], "message": "All items in this submission are duplicates"}]},
     "reject_items"),
    (b"Rejected: the phrase 'All items in this submission are duplicates' appears here", "pause"),
])
def test_all_duplicates_counts_only_at_the_top(body, kind):
    assert d(400, body).kind == kind


@pytest.fixture
def sender_with(tmp_path):
    def make(handler, fmt="csv"):
        config = from_dict({"intake": {"url": "https://intake.example.org/api/waters", "format": fmt},
                            "store": {"path": str(tmp_path / "o.db")},
                            "delivery": {"retry_initial_s": 1, "retry_max_s": 60}}, None)
        clock = FakeClock()
        box = Outbox(config.store.path)
        problems = []
        sender = Sender(box, config, client=httpx.Client(transport=httpx.MockTransport(handler)), clock=clock,
                        token=lambda: "t", on_problem=lambda key, text: problems.append((key, text)))
        return sender, box, clock, problems

    return make


def test_an_unexpected_error_while_sending_is_recorded_backs_off_and_shows(sender_with):
    def handler(request):
        raise RuntimeError("a library surprised us")

    sender, box, clock, problems = sender_with(handler)
    box.add_items([new_item(1)], source="file", client="c", now=clock.now())
    sender.step()
    item = box.get_item(1)
    assert item.state == "pending" and item.attempts == 1 and item.next_attempt_at > clock.now()
    assert "RuntimeError: a library surprised us" in item.last_error
    batch = box.get_batch(item.batch_id)
    assert batch.attempts == 1 and box.counts().by_state["sending"] == 0
    row = box.db.conn.execute("SELECT last_error, lease_owner FROM batches WHERE id = ?", (batch.id,)).fetchone()
    assert "a library surprised us" in row[0] and row[1] is None
    assert problems and problems[-1][0] == PROBLEM_KEY and "a library surprised us" in problems[-1][1]


def test_a_batch_that_cannot_be_built_is_recorded_on_its_items_and_shows(sender_with):
    calls = []
    sender, box, clock, problems = sender_with(lambda r: (calls.append(r), httpx.Response(201, json={"id": "r"}))[1])
    nested = NewItem(content_hash="h" * 64, payload=json.dumps({"Result_ID": "1", "deep": {"a": 1}}))
    box.add_items([nested], source="listener", client="c", now=clock.now())
    box.db.conn.execute("DELETE FROM payloads")  # an item without content cannot become a CSV row
    assert sender.step() == 0
    item = box.get_item(1)
    assert item.state == "pending" and item.attempts == 1 and "could not build" in item.last_error
    assert item.next_attempt_at > clock.now() and calls == []
    assert problems[-1][0] == PROBLEM_KEY
