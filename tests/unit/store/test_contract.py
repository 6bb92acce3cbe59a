"""The outbox state machine as a table: every item state x every operation -> the new state, or
IllegalTransition. Run against the real SQLite store (huey's StorageTests are the model).

An item in each state is made by the operations a real run uses, then each operation is applied to
it alone; the expected column is the contract. A new state or operation adds a row or a column, and
a missing cell fails the completeness test below.
"""

from __future__ import annotations

import pytest

from relay.errors import IllegalTransition
from relay.store.outbox import Outbox
from tests.helpers.builders import csv_build, new_item

T0 = 1_767_225_600.0
DAY = 86_400.0
OWNER = "sender-1"
STATES = ("pending", "sending", "sent", "failed", "dead", "discarded")


def _make(box: Outbox, state: str) -> tuple[int, int | None]:
    """An item in ``state``; returns (item id, its open batch id if it is leased)."""
    item_id = box.add_items([new_item(1)], source="listener", client="c", now=T0).ids[0]
    if state == "pending":
        return item_id, None
    if state == "dead":
        box.expire(now=T0 + 40 * DAY, after_days=30)
        return item_id, None
    batch = box.claim(now=T0 + 1, lease_s=60, owner=OWNER, limit=10, build=csv_build)
    assert batch is not None
    if state == "sending":
        return item_id, batch.id
    if state == "sent":
        box.complete(batch.id, owner=OWNER, receipt="r", status=201, now=T0 + 2)
        return item_id, batch.id
    box.fail_batch(batch.id, owner=OWNER, reason="refused", status=422, now=T0 + 2)
    if state == "discarded":
        box.discard([item_id], now=T0 + 3, reason="a test record")
    return item_id, batch.id


NOW = T0 + 10


def _retry(box, item, batch):
    box.retry([item], now=NOW)


def _discard(box, item, batch):
    box.discard([item], now=NOW)


def _resend(box, item, batch):
    box.resend([item], now=NOW)


def _leased(op):
    def run(box, item, batch):
        if batch is None:  # no batch holds it: a batch answer for it names a batch that is not leased
            batch = 999
        op(box, batch)
    return run


_complete = _leased(lambda box, b: box.complete(b, owner=OWNER, receipt="r", status=201, now=NOW))
_backoff = _leased(lambda box, b: box.backoff(b, owner=OWNER, next_at=NOW + 5, status=503, error="busy", now=NOW))
_release = _leased(lambda box, b: box.release(b, owner=OWNER, now=NOW))
_fail_batch = _leased(lambda box, b: box.fail_batch(b, owner=OWNER, reason="no", status=422, now=NOW))
_reject = _leased(lambda box, b: box.reject_items(b, owner=OWNER, failures={1: "bad"}, status=400, now=NOW))
_other_owner = _leased(lambda box, b: box.complete(b, owner="someone-else", receipt="r", status=201, now=NOW))


def _reclaim(box, item, batch):
    box.reclaim_expired(now=T0 + 1 + 61)  # the 60 s lease has run out


def _expire(box, item, batch):
    box.expire(now=T0 + 40 * DAY, after_days=30)


ILLEGAL = IllegalTransition
OPERATIONS = {
    "retry": _retry, "discard": _discard, "resend": _resend, "complete": _complete, "backoff": _backoff,
    "release": _release, "fail_batch": _fail_batch, "reject_items": _reject, "answer_without_lease": _other_owner,
    "reclaim_expired": _reclaim, "expire": _expire,
}

# state -> operation -> the item's state afterwards, or ILLEGAL
TABLE: dict[str, dict[str, object]] = {
    "pending": {"retry": ILLEGAL, "discard": ILLEGAL, "resend": ILLEGAL, "complete": ILLEGAL,
                "backoff": ILLEGAL, "release": ILLEGAL, "fail_batch": ILLEGAL, "reject_items": ILLEGAL,
                "answer_without_lease": ILLEGAL, "reclaim_expired": "pending", "expire": "dead"},
    "sending": {"retry": ILLEGAL, "discard": ILLEGAL, "resend": ILLEGAL, "complete": "sent",
                "backoff": "pending", "release": "pending", "fail_batch": "failed", "reject_items": "failed",
                "answer_without_lease": ILLEGAL, "reclaim_expired": "pending", "expire": "sending"},
    "sent": {"retry": ILLEGAL, "discard": ILLEGAL, "resend": "pending", "complete": ILLEGAL,
             "backoff": ILLEGAL, "release": ILLEGAL, "fail_batch": ILLEGAL, "reject_items": ILLEGAL,
             "answer_without_lease": ILLEGAL, "reclaim_expired": "sent", "expire": "sent"},
    "failed": {"retry": "pending", "discard": "discarded", "resend": ILLEGAL, "complete": ILLEGAL,
               "backoff": ILLEGAL, "release": ILLEGAL, "fail_batch": ILLEGAL, "reject_items": ILLEGAL,
               "answer_without_lease": ILLEGAL, "reclaim_expired": "failed", "expire": "dead"},
    "dead": {"retry": "pending", "discard": "discarded", "resend": ILLEGAL, "complete": ILLEGAL,
             "backoff": ILLEGAL, "release": ILLEGAL, "fail_batch": ILLEGAL, "reject_items": ILLEGAL,
             "answer_without_lease": ILLEGAL, "reclaim_expired": "dead", "expire": "dead"},
    "discarded": {"retry": "pending", "discard": ILLEGAL, "resend": ILLEGAL, "complete": ILLEGAL,
                  "backoff": ILLEGAL, "release": ILLEGAL, "fail_batch": ILLEGAL, "reject_items": ILLEGAL,
                  "answer_without_lease": ILLEGAL, "reclaim_expired": "discarded", "expire": "discarded"},
}

CELLS = [(state, op) for state in STATES for op in OPERATIONS]


def test_the_table_covers_every_state_and_operation():
    assert set(TABLE) == set(STATES)
    for state, row in TABLE.items():
        assert set(row) == set(OPERATIONS), state


@pytest.mark.parametrize(("state", "operation"), CELLS, ids=[f"{s}-{o}" for s, o in CELLS])
def test_transition(tmp_path, state, operation):
    box = Outbox(tmp_path / "outbox.db")
    try:
        item, batch = _make(box, state)
        assert box.get_item(item).state == state
        expected = TABLE[state][operation]
        if expected is ILLEGAL:
            with pytest.raises(IllegalTransition):
                OPERATIONS[operation](box, item, batch)
            assert box.get_item(item).state == state, "a refused transition changes nothing"
        else:
            OPERATIONS[operation](box, item, batch)
            assert box.get_item(item).state == expected
    finally:
        box.close()
