"""Items the intake already holds ("Item is a duplicate.") are settled as sent in the same
transaction that fails the bad ones and frees the rest; items whose batch cannot be built are
deferred with the reason."""

from __future__ import annotations

import pytest

from relay.errors import EnvironmentProblem
from relay.store.models import BatchSpec
from tests.helpers.builders import csv_build, new_item

T0 = 1_767_225_600.0


def test_held_items_become_sent_failed_ones_fail_and_the_rest_go_back(outbox):
    ids = outbox.add_items([new_item(i) for i in range(4)], source="file", client="c", now=T0).ids
    batch = outbox.claim(now=T0 + 1, lease_s=60, owner="s1", limit=10, build=csv_build)
    failed, requeued = outbox.reject_items(batch.id, owner="s1", failures={2: "bad code"}, status=400,
                                           now=T0 + 2, held=(1, 4), receipt="already at the intake (answer r-9)")
    assert failed == [ids[1]] and requeued == [ids[2]]
    items = [outbox.get_item(i) for i in ids]
    assert [i.state for i in items] == ["sent", "failed", "pending", "sent"]
    assert items[0].receipt == "already at the intake (answer r-9)" and items[0].sent_at == T0 + 2
    assert items[0].last_status == 400 and items[0].attempts == 1
    assert items[2].batch_id is None and items[1].last_error == "bad code"
    assert outbox.get_control("last_success_at") == repr(T0 + 2)
    assert outbox.get_batch(batch.id).state == "closed"


def test_the_settlement_is_one_transaction(outbox, monkeypatch):
    ids = outbox.add_items([new_item(i) for i in range(3)], source="file", client="c", now=T0).ids
    batch = outbox.claim(now=T0 + 1, lease_s=60, owner="s1", limit=10, build=csv_build)
    # A failure part-way (the batch is closed last) leaves every item as it was.
    outbox.db.conn.execute("CREATE TRIGGER stop BEFORE UPDATE OF state ON batches BEGIN "
                           "SELECT RAISE(ABORT, 'disk trouble'); END")
    with pytest.raises(EnvironmentProblem, match="disk trouble"):
        outbox.reject_items(batch.id, owner="s1", failures={2: "bad"}, status=400, now=T0 + 2, held=(1,))
    assert {outbox.get_item(i).state for i in ids} == {"sending"}


def test_items_whose_batch_cannot_be_built_are_deferred_with_the_reason(outbox):
    from relay.store.batches import BuildFailed

    ids = outbox.add_items([new_item(i) for i in range(2)], source="file", client="c", now=T0).ids

    def broken(items) -> BatchSpec:
        raise ValueError("item 1 is not a flat record")

    with pytest.raises(BuildFailed) as caught:
        outbox.claim(now=T0 + 1, lease_s=60, owner="s1", limit=10, build=broken)
    assert caught.value.item_ids == tuple(ids) and "not a flat record" in caught.value.reason
    assert outbox.defer_items(caught.value.item_ids, error="could not build", next_at=T0 + 30, now=T0 + 1) == 2
    item = outbox.get_item(ids[0])
    assert (item.state, item.last_error, item.attempts, item.next_attempt_at) == ("pending", "could not build", 1,
                                                                                  T0 + 30)
    assert outbox.claim(now=T0 + 2, lease_s=60, owner="s1", limit=10, build=csv_build) is None  # not due yet
