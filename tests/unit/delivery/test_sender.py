"""Every answer class of the wire protocol, driven through Sender.step() with a fake clock."""

from __future__ import annotations

import json
from email.utils import format_datetime
from datetime import datetime, timezone

import httpx
import pytest

from relay.clock import FakeClock
from relay.config import from_dict
from relay.delivery.sender import Backoff, Sender
from relay.events import Delivered, ItemsFailed, Paused
from relay.store.control import PAUSED_BY, UNAVAILABLE_UNTIL
from relay.store.outbox import Outbox
from tests.helpers.builders import new_item

URL = "http://127.0.0.1:9/api/waters"


class Intake:
    """A scripted intake: each request gets the next answer (status, body, headers) or raises."""

    def __init__(self, *answers):
        self.answers = list(answers)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, Exception):
            raise answer
        status, body, headers = (answer + ({},))[:3] if len(answer) == 2 else answer
        content = json.dumps(body).encode() if isinstance(body, (dict, list)) else body.encode()
        return httpx.Response(status, content=content, headers=headers)


def ok(n=1):
    return (201, {"id": f"receipt-{n}", "overallStatus": "Received"})


@pytest.fixture
def env(tmp_path):
    def make(*answers, intake=None, token="secret", **overrides):
        raw = {"intake": {"url": URL, "batch_max_items": 3, **overrides.pop("intake_cfg", {})},
               "store": {"path": str(tmp_path / "o.db")},
               "delivery": {"retry_initial_s": 1, "retry_max_s": 60, "probe_interval_s": 300},
               **overrides}
        config = from_dict(raw, None)
        clock = FakeClock()
        box = Outbox(config.store.path)
        script = intake or Intake(*answers)
        events = []
        sender = Sender(box, config, client=httpx.Client(transport=httpx.MockTransport(script)), clock=clock,
                        token=lambda: token)
        sender.events.subscribe(events.append)
        return box, sender, script, clock, events

    return make


def fill(box, clock, n, source_name="results.csv"):
    return box.add_items([new_item(i) for i in range(n)], source="file", client="simple_report.default",
                         now=clock.now(), source_name=source_name)


def states(box):
    return {k: v for k, v in box.counts().by_state.items() if v}


def test_delivered_sends_contract_headers_and_stores_receipt(env):
    box, sender, intake, clock, events = env(ok())
    fill(box, clock, 2)
    assert sender.step() == 0
    req = intake.requests[0]
    assert req.method == "POST" and str(req.url) == URL
    assert req.headers["content-type"] == "text/csv"
    assert req.headers["client"] == "simple_report.default"
    assert req.headers["payloadname"] == "results.csv"
    assert req.headers["authorization"] == "Bearer secret"
    assert req.headers["content-length"] == str(len(req.content))
    assert len(req.headers["idempotency-key"]) == 36
    lines = req.content.decode().splitlines()
    assert lines[0] == "Result_ID,Patient_last_name,Test_result_code" and len(lines) == 3
    assert states(box) == {"sent": 2}
    assert box.get_item(1).receipt == "receipt-1"
    assert any(isinstance(e, Delivered) and e.count == 2 for e in events)


def test_functions_key_and_no_auth(env):
    box, sender, intake, clock, _ = env(ok(), intake_cfg={"auth": "functions-key"})
    fill(box, clock, 1)
    sender.step()
    assert intake.requests[0].headers["x-functions-key"] == "secret"
    assert "authorization" not in intake.requests[0].headers


def test_ndjson_and_json_formats(env, tmp_path):
    box, sender, intake, clock, _ = env(ok(), intake_cfg={"format": "ndjson"})
    fill(box, clock, 2)
    sender.step()
    req = intake.requests[0]
    assert req.headers["content-type"] == "application/x-ndjson"
    rows = [json.loads(line) for line in req.content.decode().splitlines()]
    assert rows[0]["Result_ID"] == "id-0" and len(rows) == 2


def test_batches_respect_batch_max_items(env):
    box, sender, intake, clock, _ = env(ok())
    fill(box, clock, 7)
    while sender.step() == 0 and states(box).get("pending"):
        pass
    sizes = [len(r.content.decode().splitlines()) - 1 for r in intake.requests]
    assert sizes == [3, 3, 1] and states(box) == {"sent": 7}


@pytest.mark.parametrize("failure", [
    (502, {"error": "bad gateway"}),
    (500, "oops"),
    (504, ""),
    httpx.ReadTimeout("timed out"),
    httpx.ConnectError("refused"),
    httpx.RemoteProtocolError("server disconnected without sending a response"),
])
def test_unknown_outcome_resends_identical_batch_after_backoff(env, failure):
    box, sender, intake, clock, _ = env(failure, ok())
    fill(box, clock, 2)
    sender.step()
    assert states(box) == {"pending": 2}
    item = box.get_item(1)
    assert item.attempts == 1 and item.last_error
    wait = item.next_attempt_at - clock.now()
    assert 1.0 <= wait <= 1.0 + 1e-9  # first retry waits retry_initial_s
    assert sender.step() > 0 and len(intake.requests) == 1  # not due yet: nothing sent
    clock.advance(wait)
    sender.step()
    first, second = intake.requests
    assert first.headers["idempotency-key"] == second.headers["idempotency-key"]
    assert first.content == second.content
    assert states(box) == {"sent": 2}


def test_backoff_bounds_grow_with_full_jitter():
    b = Backoff(1, 60)
    for attempt in range(1, 12):
        samples = [b(attempt) for _ in range(200)]
        high = min(60, 2 ** (attempt - 1))
        assert all(1 <= s <= high for s in samples)
        if high > 2:
            assert max(samples) - min(samples) > (high - 1) * 0.3  # jitter spreads the retries


def test_unavailable_pauses_whole_intake_without_counting_attempt(env):
    box, sender, intake, clock, events = env((503, "maintenance", {"Retry-After": "120"}), ok())
    fill(box, clock, 2, source_name="a.csv")
    fill(box, clock, 1, source_name="b.csv")  # another group: must wait too
    sender.step()
    assert box.get_item(1).attempts == 0
    assert float(box.get_control(UNAVAILABLE_UNTIL)) == clock.now() + 120
    assert 119 <= sender.step() <= 120
    assert len(intake.requests) == 1  # nothing else is tried, not even the other group
    clock.advance(120)
    sender.step()
    assert len(intake.requests) == 2
    assert intake.requests[1].headers["idempotency-key"] == intake.requests[0].headers["idempotency-key"]


def test_retry_after_http_date_and_clamp(env):
    clock0 = FakeClock()
    when = datetime.fromtimestamp(clock0.now() + 90, tz=timezone.utc)
    box, sender, intake, clock, _ = env((429, "slow down", {"Retry-After": format_datetime(when, usegmt=True)}))
    fill(box, clock, 1)
    sender.step()
    assert float(box.get_control(UNAVAILABLE_UNTIL)) == pytest.approx(clock.now() + 90, abs=1)


def test_retry_after_is_clamped(env):
    box, sender, intake, clock, _ = env((503, "", {"Retry-After": "99999999"}))
    fill(box, clock, 1)
    sender.step()
    assert float(box.get_control(UNAVAILABLE_UNTIL)) == clock.now() + 3600


def test_item_rejects_fail_named_items_and_resend_rest(env):
    rejection = (400, {"errors": [{"scope": "item", "indices": [2], "message": "Missing Patient_DOB",
                                   "field": "Patient_DOB"}], "errorCount": 1})
    box, sender, intake, clock, events = env(rejection, ok())
    fill(box, clock, 3)
    sender.step()
    assert states(box) == {"failed": 1, "pending": 2}
    assert box.get_item(2).last_error == "Missing Patient_DOB (field Patient_DOB)"
    sender.step()
    assert states(box) == {"failed": 1, "sent": 2}
    assert intake.requests[0].headers["idempotency-key"] != intake.requests[1].headers["idempotency-key"]
    assert b"id-1" not in intake.requests[1].content
    assert any(isinstance(e, ItemsFailed) and e.count == 1 for e in events)


def test_item_rejects_by_tracking_id(env):
    rejection = (422, {"errors": [{"scope": "item", "trackingIds": ["id-0"], "message": "bad code"}]})
    box, sender, intake, clock, _ = env(rejection, ok())
    fill(box, clock, 2)
    sender.step()
    assert box.get_item(1).state == "failed" and box.get_item(2).state == "pending"


def test_400_naming_no_items_splits_until_bad_item_isolated(env):
    def intake(request):
        intake.requests.append(request)
        if b"id-2" in request.content:
            return httpx.Response(400, json={"errors": [{"scope": "report", "message": "malformed"}]})
        return httpx.Response(201, json={"id": "r"})
    intake.requests = []
    box, sender, _, clock, _ = env(intake=intake)
    fill(box, clock, 3)
    for _ in range(10):
        sender.step()
    assert states(box) == {"sent": 2, "failed": 1}
    assert box.get_item(3).state == "failed" and "malformed" in box.get_item(3).last_error


def test_all_duplicates_counts_as_delivered(env):
    box, sender, intake, clock, _ = env((400, {"errors": [{"message": "All items in this submission are duplicates."}]}))
    fill(box, clock, 2)
    sender.step()
    assert states(box) == {"sent": 2}


def test_409_retries_later_same_key(env):
    box, sender, intake, clock, _ = env((409, "in progress"), ok())
    fill(box, clock, 1)
    sender.step()
    assert states(box) == {"pending": 1}
    clock.advance(2)
    sender.step()
    assert states(box) == {"sent": 1}
    assert len({r.headers["idempotency-key"] for r in intake.requests}) == 1


def test_422_without_items_fails_batch_for_a_person(env):
    box, sender, intake, clock, _ = env((422, {"message": "Idempotency-Key reused with a different body"}))
    fill(box, clock, 2)
    sender.step()
    assert states(box) == {"failed": 2}
    assert "reused" in box.get_item(1).last_error


@pytest.mark.parametrize("status", [401, 403])
def test_credentials_rejected_pause_probe_and_resume(env, status):
    box, sender, intake, clock, events = env((status, "no"), (status, "no"), ok())
    fill(box, clock, 2)
    sender.step()
    assert states(box) == {"pending": 2}  # nothing failed
    assert box.get_control(PAUSED_BY) == "intake"
    assert any(isinstance(e, Paused) for e in events)
    assert sender.step() == pytest.approx(300)  # no request until the probe is due
    assert len(intake.requests) == 1
    clock.advance(300)
    sender.step()  # one probe, still refused
    assert len(intake.requests) == 2
    sender.credentials_changed()  # a new credential: try again at once
    sender.step()
    assert len(intake.requests) == 3 and states(box) == {"sent": 2}
    assert box.get_control(PAUSED_BY) is None


def test_retired_sender_pauses_until_a_person_resumes(env):
    box, sender, intake, clock, _ = env((410, "gone"))
    fill(box, clock, 1)
    sender.step()
    clock.advance(86400)
    sender.step()
    assert len(intake.requests) == 1 and box.get_control(PAUSED_BY) == "intake"
    assert "retired" in sender.state.reason


def test_missing_credential_pauses_without_sending(env):
    box, sender, intake, clock, _ = env(ok(), token=None)
    fill(box, clock, 1)
    sender.step()
    assert intake.requests == [] and "relay token set" in box.get_control("paused_reason")


def test_413_halves_the_batch(env):
    def intake(request):
        intake.requests.append(request)
        rows = request.content.count(b"\n") - 1
        return httpx.Response(413 if rows > 1 else 201, json={"id": "r"})
    intake.requests = []
    box, sender, _, clock, _ = env(intake=intake)
    fill(box, clock, 3)
    for _ in range(8):
        sender.step()
    assert states(box) == {"sent": 3}


def test_person_pause_survives_restart(env, tmp_path):
    box, sender, intake, clock, _ = env(ok())
    fill(box, clock, 1)
    box.set_control({"paused_by": "person", "paused_reason": "lab closed"})
    sender.step()
    assert intake.requests == []


def test_intake_pause_from_earlier_run_is_lifted_at_start(env):
    box, sender, intake, clock, _ = env(ok())
    box.set_control({"paused_by": "intake", "paused_reason": "credentials rejected"})
    fill(box, clock, 1)
    sender.step()
    assert states(box) == {"sent": 1} and box.get_control(PAUSED_BY) is None


def test_maintenance_window_sends_nothing_and_resumes(env):
    # FakeClock starts 2026-01-01T00:00Z, a Thursday; window covers it in UTC
    box, sender, intake, clock, _ = env(ok(), maintenance=[{"days": "mon-sun", "start": "23:30", "end": "00:30",
                                                            "timezone": "UTC"}])
    fill(box, clock, 1)
    wait = sender.step()
    assert 1800 <= wait <= 1805 and intake.requests == []
    assert sender.state.state == "waiting"
    clock.advance(wait)
    sender.step()
    assert states(box) == {"sent": 1}


def test_expiry_to_dead_in_housekeeping(env):
    box, sender, intake, clock, _ = env((500, "x"))
    fill(box, clock, 1)
    sender.step()
    clock.advance(15 * 86400)
    sender.housekeeping(clock.now())
    assert states(box) == {"dead": 1}


def test_clock_going_back_makes_waiting_batches_due(env):
    box, sender, intake, clock, _ = env((500, "x"), ok())
    fill(box, clock, 1)
    sender.step()  # fails: next attempt 1 s later by the old clock
    clock.set(clock.now() - 86400)  # the wall clock is corrected by a day
    sender.step()
    assert states(box) == {"sent": 1} and len(intake.requests) == 2


def test_a_late_delivery_does_not_lift_a_person_pause_or_a_fresh_retry_after(env):
    box, sender, intake, clock, _ = env(ok())
    fill(box, clock, 1)
    box.set_control({"paused_by": "person", "paused_reason": "lab closed", UNAVAILABLE_UNTIL: repr(clock.now() + 60)})
    sender._resume(clock.now())  # what an answer arriving from a request already in flight does
    assert box.get_control(PAUSED_BY) == "person"
    assert float(box.get_control(UNAVAILABLE_UNTIL)) == clock.now() + 60
    assert not box.pause_by_intake("credentials rejected", probe=True)  # never replaces a person's pause
    assert box.get_control("paused_reason") == "lab closed"


def test_retired_sender_stays_paused_across_a_restart(env):
    box, sender, intake, clock, _ = env((410, "gone"), ok())
    fill(box, clock, 1)
    sender.step()
    restarted = Sender(box, sender.config, destination=sender.destination, clock=clock)
    restarted.step()
    assert len(intake.requests) == 1 and box.get_control(PAUSED_BY) == "intake"
