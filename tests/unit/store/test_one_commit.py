"""Fewer durable commits and a freer outbox: an answer and the next claim in one commit, the next
batch formed from a snapshot outside the write transaction, request counts that ride with the
next transaction, control values read without waiting for a writer."""

from __future__ import annotations

import sqlite3
import threading


import relay.store.batches as batches_mod
from relay.delivery.wire import BUILDERS, by_kind
from relay.store.tallies import INTAKE_REQUESTS
from relay.store.outbox import Outbox
from tests.helpers.builders import new_item
from tests.helpers.commits import count_transactions

T0 = 1_767_225_600.0
BUILD = by_kind(BUILDERS["csv"])


def test_an_answer_and_the_next_claim_are_one_commit(box):
    box.add_items([new_item(n) for n in range(6)], source="t", client="c", now=T0)
    first = box.claim(now=T0, lease_s=60, owner="a", limit=3, build=BUILD)
    assert first is not None
    commits = count_transactions(box)
    count, following = box.complete_and_claim(first.id, owner="a", receipt="r1", status=201, now=T0 + 1,
                                              lease_s=60, next_owner="b", limit=3, build=BUILD)
    assert commits[0] == 1 and count == 3
    assert following is not None and following.item_ids == tuple(range(4, 7)) and following.id != first.id
    assert [box.get_item(i).state for i in range(1, 7)] == ["sent"] * 3 + ["sending"] * 3
    # the following batch is leased to its own owner: its answer is recorded under that lease
    assert box.complete(following.id, owner="b", receipt="r2", status=201, now=T0 + 2) == 3
    assert box.counts().by_state["sent"] == 6


def test_when_the_next_batch_cannot_be_built_the_answer_still_stands(box):
    box.add_items([new_item(n) for n in range(4)], source="t", client="c", now=T0)
    first = box.claim(now=T0, lease_s=60, owner="a", limit=2, build=BUILD)
    assert first is not None

    def broken(members):
        raise ValueError("no builder for this")

    count, following = box.complete_and_claim(first.id, owner="a", receipt="r", status=201, now=T0 + 1,
                                              lease_s=60, next_owner="b", limit=2, build=broken)
    assert (count, following) == (2, None)
    assert [box.get_item(i).state for i in range(1, 5)] == ["sent", "sent", "pending", "pending"]


def test_a_batch_formed_from_a_snapshot_never_takes_an_item_changed_meanwhile(box, monkeypatch):
    """Between the snapshot and the write transaction a person (another process) discards one of
    the items: the batch is formed again inside the transaction, without it."""
    box.add_items([new_item(n) for n in range(3)], source="t", client="c", now=T0)
    failed = box.claim(now=T0, lease_s=60, owner="x", limit=1, build=BUILD)
    assert failed is not None
    box.fail_batch(failed.id, owner="x", reason="bad row", status=400, now=T0)  # item 1 waits for a person
    box.retry([1], now=T0)  # ...and is sent again: pending, in no batch
    real = batches_mod.BatchTransitions._prepare

    def prepare_then_meddle(self, **kw):
        prepared = real(self, **kw)
        assert prepared is not None and [m.id for m in prepared.used] == [1, 2, 3]
        with Outbox(box.path) as other:
            other.db.conn.execute("UPDATE items SET state = 'discarded' WHERE id = 2")
        return prepared

    monkeypatch.setattr(batches_mod.BatchTransitions, "_prepare", prepare_then_meddle)
    batch = box.claim(now=T0 + 1, lease_s=60, owner="s", limit=10, build=BUILD)
    assert batch is not None and batch.item_ids == (1, 3)
    assert b"id-1," not in batch.body and b"id-0," in batch.body and b"id-2," in batch.body  # item n+1 is id-n


def test_a_request_count_rides_with_the_next_transaction(box):
    box.count_intake_request("delivered", later=True)
    key = INTAKE_REQUESTS + "delivered"
    reader = sqlite3.connect(box.path)
    try:
        assert reader.execute("SELECT value FROM control WHERE key = ?", (key,)).fetchone() is None
        box.set_control({"anything": "1"})  # the next write transaction carries it
        assert reader.execute("SELECT value FROM control WHERE key = ?", (key,)).fetchone() == ("1",)
        box.count_intake_request("delivered")  # without later: a commit of its own
        assert reader.execute("SELECT value FROM control WHERE key = ?", (key,)).fetchone() == ("2",)
    finally:
        reader.close()


def test_control_values_are_read_without_waiting_for_a_writer(box):
    box.set_control({"paused_by": "person"})
    holding, release = threading.Event(), threading.Event()

    def writer():
        with box.db.transaction() as conn:
            conn.execute("INSERT INTO control (key, value) VALUES ('inside', '1')")
            holding.set()
            release.wait(10)

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        assert holding.wait(10)
        got = {}
        reader = threading.Thread(target=lambda: got.update(box.get_controls(["paused_by", "inside"])))
        reader.start()
        reader.join(5)
        assert not reader.is_alive(), "a read of control values waited for another thread's transaction"
        assert got == {"paused_by": "person"}  # what is committed; not the open transaction's write
    finally:
        release.set()
        thread.join(10)
    assert box.get_control("inside") == "1"


def test_read_connections_of_their_own_are_few_whatever_the_threads(box, monkeypatch):
    """A thread per MLLP connection, say: past MAX_READERS, reads go through the shared connection
    rather than opening one more that lives as long as the outbox."""
    import relay.store.db as db_mod

    monkeypatch.setattr(db_mod, "MAX_READERS", 2)
    box.set_control({"k": "v"})
    seen = []
    for _ in range(5):
        thread = threading.Thread(target=lambda: seen.append(box.get_control("k")))
        thread.start()
        thread.join(10)
    assert seen == ["v"] * 5 and len(box.db._readers) == 2
