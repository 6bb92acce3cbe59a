from __future__ import annotations

import json
import sqlite3

import pytest

from relay.errors import IllegalTransition, OutboxDamaged
from relay.store.models import BatchSpec, NewItem
from relay.store.outbox import Outbox
from tests.helpers.builders import COLUMNS, csv_build, new_item

T0 = 1_767_225_600.0


def add(outbox, n, start=0, now=T0, source="listener", client="c", source_name=None):
    return outbox.add_items([new_item(i) for i in range(start, start + n)], source=source, client=client, now=now,
                            source_name=source_name)


def claim(outbox, now=T0 + 1, limit=100, owner="s1"):
    return outbox.claim(now=now, lease_s=60, owner=owner, limit=limit, build=csv_build)


def states(outbox):
    return {k: v for k, v in outbox.counts().by_state.items() if v}


def test_pragmas_and_migrations_recorded(tmp_path):
    box = Outbox(tmp_path / "o.db")
    conn = box.db.conn
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    assert conn.execute("SELECT version FROM schema_migrations").fetchall() == [(1,), (2,), (3,), (4,), (5,)]
    box.close()
    # reopening applies nothing twice
    box = Outbox(tmp_path / "o.db")
    assert box.db.conn.execute("SELECT count(*) FROM schema_migrations").fetchone()[0] == 5
    box.close()


def test_an_outbox_of_schema_1_keeps_its_items_and_their_content(tmp_path):
    """Migration 2 moves payloads to their own table; a purged item stays purged."""
    from relay.store.db import _statements
    from relay.store.schema import MIGRATIONS

    path = tmp_path / "old.db"
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    for statement in _statements(MIGRATIONS[0][2]):
        conn.execute(statement)
    conn.execute("CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, "
                 "applied_at TEXT NOT NULL)")
    conn.execute("INSERT INTO schema_migrations VALUES (1, 'initial outbox', datetime('now'))")
    conn.execute("PRAGMA user_version = 1")
    conn.execute("INSERT INTO column_sets (id, key, columns) VALUES (1, 'k', ?)", (json.dumps(list(COLUMNS)),))
    rows = [("pending", "h1", "\x1fA1\x1fPeña\x1f1", None, None), ("sent", "h2", None, T0 + 5, T0 + 5),
            ("sent", "h3", "\x1fA3\x1fB\x1f3", T0 + 6, T0 + 6)]
    for state, content_hash, payload, sent_at, updated in rows:
        conn.execute("INSERT INTO items (state, source, client, tracking_id, content_hash, column_set_id, payload, "
                     "group_key, next_attempt_at, created_at, updated_at, sent_at) "
                     "VALUES (?, 'watch', 'c', ?, ?, 1, ?, 'c|1|', ?, ?, ?, ?)",
                     (state, content_hash, content_hash, payload, T0, T0, updated or T0, sent_at))
    conn.execute("INSERT INTO batches (id, idempotency_key, state, client, content_type, body, item_count, "
                 "next_attempt_at, created_at, updated_at) VALUES (7, 'k-7', 'done', 'c', 'text/csv', ?, 1, ?, ?, ?)",
                 (b"a,b\r\n1,2\r\n", T0, T0, T0))
    conn.execute("INSERT INTO batch_items (batch_id, position, item_id) VALUES (7, 1, 3)")
    conn.close()

    box = Outbox(path)
    assert box.db.conn.execute("SELECT version FROM schema_migrations").fetchall() == [(1,), (2,), (3,), (4,), (5,)]
    assert box.db.conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    assert box.get_batch(7).body == b"a,b\r\n1,2\r\n" and box.get_batch(7).item_ids == (3,)
    # a batch from before counts as claimed (the intake may hold it): never re-keyed
    assert box.db.conn.execute("SELECT claimed_at FROM batches WHERE id = 7").fetchone()[0] == T0
    assert "'discarded'" in box.db.conn.execute("SELECT sql FROM sqlite_master WHERE name = 'items'").fetchone()[0]
    assert box.db.conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert [box.get_item(i).payload for i in (1, 2, 3)] == ["\x1fA1\x1fPeña\x1f1", None, "\x1fA3\x1fB\x1f3"]
    assert box.db.conn.execute("SELECT id, purged_at FROM items WHERE purged_at IS NOT NULL").fetchall() == [(2, T0 + 5)]
    with pytest.raises(IllegalTransition, match="removed after the retention period"):
        box.resend([2], now=T0 + 10)
    assert box.purge(now=T0 + 86400 * 2, retention_days=1) == 1  # item 3 now; item 2 was purged before
    assert box.get_item(3).payload is None and box.get_item(3).content_hash == "h3"
    batch = claim(box, now=T0 + 86400 * 2)
    assert batch.item_ids == (1,) and batch.body.decode().splitlines()[1] == "A1,Peña,1"
    box.close()


def test_outbox_file_is_private(tmp_path):
    Outbox(tmp_path / "o.db").close()
    assert (tmp_path / "o.db").stat().st_mode & 0o077 == 0


def test_damaged_file_is_a_clear_error_and_is_kept(tmp_path):
    path = tmp_path / "o.db"
    path.write_bytes(b"this is not a database at all" * 100)
    with pytest.raises(OutboxDamaged, match="damaged"):
        Outbox(path)
    assert path.read_bytes().startswith(b"this is not")


def test_newer_schema_is_refused(tmp_path):
    path = tmp_path / "o.db"
    Outbox(path).close()
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA user_version = 99")
    conn.close()
    with pytest.raises(Exception, match="newer relay"):
        Outbox(path)


def test_add_dedupes_within_and_across_calls(outbox):
    r = outbox.add_items([new_item(1), new_item(2), new_item(1)], source="listener", client="c", now=T0)
    assert r.duplicate == [False, False, True]
    assert r.ids[2] == r.ids[0]
    r2 = add(outbox, 3)  # items 0,1,2: 1 and 2 are duplicates
    assert r2.duplicate == [False, True, True]
    assert outbox.counts().duplicates == 3
    assert states(outbox) == {"pending": 3}


def test_duplicate_window_expires(tmp_path):
    box = Outbox(tmp_path / "o.db", dedupe_window_days=1)
    add(box, 1)
    assert add(box, 1, now=T0 + 3600).duplicates == 1
    assert add(box, 1, now=T0 + 2 * 86400).accepted == 1
    box.close()


def test_duplicates_record_source_and_original(outbox):
    first = add(outbox, 1)
    outbox.add_items([new_item(0)], source="file", client="c", now=T0 + 5, source_name="copy.csv")
    dups = outbox.list_duplicates()
    assert dups[0]["original_item_id"] == first.ids[0]
    assert dups[0]["source_name"] == "copy.csv"


def test_add_is_all_or_nothing(outbox):
    broken = NewItem(content_hash=None, payload="[]", columns=COLUMNS)  # type: ignore[arg-type]
    with pytest.raises(Exception, match="NOT NULL"):  # the second item breaks a constraint
        outbox.add_items([new_item(1), broken], source="listener", client="c", now=T0)
    assert outbox.count_items() == 0


def test_claim_forms_persisted_batch_and_leases(outbox):
    add(outbox, 5)
    batch = claim(outbox, limit=3)
    assert len(batch.item_ids) == 3 and batch.body.startswith(b"Result_ID,")
    assert states(outbox) == {"sending": 3, "pending": 2}
    # a second claim takes the rest, never the leased batch
    other = claim(outbox, limit=10, owner="s2")
    assert set(other.item_ids).isdisjoint(batch.item_ids)
    assert claim(outbox, limit=10) is None


def test_claim_never_mixes_column_sets_or_clients(outbox):
    outbox.add_items([new_item(1)], source="listener", client="a", now=T0)
    outbox.add_items([new_item(2, ("Result_ID", "x"))], source="listener", client="a", now=T0)
    outbox.add_items([new_item(3)], source="listener", client="b", now=T0)
    sizes = []
    while (b := claim(outbox)) is not None:
        sizes.append(len(b.item_ids))
    assert sizes == [1, 1, 1]


def test_complete_stores_receipt(outbox):
    add(outbox, 2)
    b = claim(outbox)
    assert outbox.complete(b.id, owner="s1", receipt='{"id":"r1"}', status=201, now=T0 + 2) == 2
    item = outbox.get_item(b.item_ids[0])
    assert item.state == "sent" and item.receipt == '{"id":"r1"}' and item.sent_at == T0 + 2
    assert outbox.counts().last_success_at == T0 + 2
    with pytest.raises(IllegalTransition):
        outbox.complete(b.id, owner="s1", receipt="x", status=201, now=T0 + 3)


def test_backoff_resends_identical_batch_with_same_key(outbox):
    add(outbox, 3)
    b = claim(outbox)
    outbox.backoff(b.id, owner="s1", next_at=T0 + 100, status=502, error="bad gateway", now=T0 + 2)
    assert states(outbox) == {"pending": 3}
    assert claim(outbox, now=T0 + 50) is None  # not due yet, and its items are not re-batched
    again = claim(outbox, now=T0 + 100)
    assert (again.id, again.idempotency_key, again.body) == (b.id, b.idempotency_key, b.body)
    assert again.attempts == 1
    assert outbox.get_item(b.item_ids[0]).attempts == 1


def test_deferral_does_not_count_an_attempt(outbox):
    add(outbox, 1)
    b = claim(outbox)
    outbox.backoff(b.id, owner="s1", next_at=T0 + 10, status=503, error="unavailable", now=T0 + 1,
                   count_attempt=False)
    assert outbox.get_item(b.item_ids[0]).attempts == 0


def test_wrong_owner_cannot_answer(outbox):
    add(outbox, 1)
    b = claim(outbox)
    with pytest.raises(IllegalTransition):
        outbox.complete(b.id, owner="intruder", receipt="x", status=201, now=T0)


def test_reject_items_fails_named_and_requeues_rest_in_new_batch(outbox):
    add(outbox, 4)
    b = claim(outbox)
    failed, requeued = outbox.reject_items(b.id, owner="s1", failures={2: "missing DOB"}, status=400, now=T0 + 2)
    assert failed == [b.item_ids[1]] and len(requeued) == 3
    assert outbox.get_item(failed[0]).last_error == "missing DOB"
    nb = claim(outbox, now=T0 + 3)
    assert nb.idempotency_key != b.idempotency_key and list(nb.item_ids) == requeued


def test_split_halves_in_order_with_new_keys(outbox):
    add(outbox, 5)
    b = claim(outbox)
    children = outbox.split(b.id, owner="s1", build=csv_build, status=413, reason="too large", now=T0 + 2)
    assert len(children) == 2
    first = claim(outbox, now=T0 + 3)
    second = claim(outbox, now=T0 + 3)
    assert list(first.item_ids) + list(second.item_ids) == list(b.item_ids)
    assert len(first.item_ids) == 3
    one = claim(outbox, now=T0 + 3)
    assert one is None


def test_split_single_item_is_illegal(outbox):
    add(outbox, 1)
    b = claim(outbox)
    with pytest.raises(IllegalTransition):
        outbox.split(b.id, owner="s1", build=csv_build, status=400, reason="x", now=T0)


def test_size_limited_build_takes_a_prefix(outbox):
    add(outbox, 5)
    b = outbox.claim(now=T0 + 1, lease_s=60, owner="s", limit=10,
                     build=lambda items: BatchSpec("text/csv", b"x", item_count=2))
    assert len(b.item_ids) == 2
    assert states(outbox) == {"sending": 2, "pending": 3}


def test_fail_batch(outbox):
    add(outbox, 2)
    b = claim(outbox)
    outbox.fail_batch(b.id, owner="s1", reason="key reused with another body", status=422, now=T0 + 2)
    assert states(outbox) == {"failed": 2}


def test_release_and_reclaim_after_crash(outbox):
    add(outbox, 2)
    b = claim(outbox)
    assert outbox.reclaim_expired(now=T0 + 30) == 0
    assert outbox.reclaim_expired(now=T0 + 61) == 1
    assert states(outbox) == {"pending": 2}
    again = claim(outbox, now=T0 + 62)
    assert again.idempotency_key == b.idempotency_key
    outbox.release(again.id, owner="s1", now=T0 + 63)
    assert states(outbox) == {"pending": 2}
    assert outbox.get_batch(b.id).attempts == 0


def test_expired_lease_batch_can_be_claimed_directly(outbox):
    add(outbox, 1)
    b = claim(outbox)
    again = outbox.claim(now=T0 + 200, lease_s=60, owner="s2", limit=10, build=csv_build)
    assert again.id == b.id


def test_release_owner(outbox):
    add(outbox, 3)
    claim(outbox, limit=1)
    claim(outbox, limit=1)
    assert outbox.release_owner("s1", now=T0 + 2) == 2
    assert states(outbox) == {"pending": 3}


def test_expire_to_dead(outbox):
    add(outbox, 3)
    b = claim(outbox, limit=1)
    outbox.backoff(b.id, owner="s1", next_at=T0 + 10, status=500, error="x", now=T0 + 2)
    b2 = claim(outbox, limit=1)
    outbox.fail_batch(b2.id, owner="s1", reason="bad", status=422, now=T0 + 3)
    assert outbox.expire(now=T0 + 86400 * 13, after_days=14) == 0
    assert outbox.expire(now=T0 + 86400 * 15, after_days=14) == 3
    assert states(outbox) == {"dead": 3}
    assert "bad" in outbox.get_item(b2.item_ids[0]).last_error
    parked = outbox.get_batch(b.id)  # it was sent once: kept open, waiting for a person, never re-keyed
    assert parked.state == "open" and parked.next_attempt_at > T0 + 86400 * 10_000


def test_retry_and_audit(outbox):
    add(outbox, 2)
    b = claim(outbox)
    outbox.fail_batch(b.id, owner="s1", reason="bad", status=422, now=T0 + 2)
    with pytest.raises(IllegalTransition):
        outbox.retry([999], now=T0)
    assert outbox.retry(state="failed", now=T0 + 5, actor="tester") == list(b.item_ids)
    assert states(outbox) == {"pending": 2}
    kinds = [h.kind for h in outbox.history(b.item_ids[0])]
    assert kinds[-1] == "retry"
    with pytest.raises(IllegalTransition, match="pending"):
        outbox.retry([b.item_ids[0]], now=T0 + 6)


def test_resend_only_sent_and_not_after_purge(outbox):
    add(outbox, 2)
    b = claim(outbox)
    outbox.complete(b.id, owner="s1", receipt="r", status=201, now=T0 + 2)
    first, second = b.item_ids
    assert outbox.resend([first], now=T0 + 3) == [first]
    item = outbox.get_item(first)
    assert item.state == "pending" and item.forced
    with pytest.raises(IllegalTransition):
        outbox.resend([first], now=T0 + 4)  # pending now
    assert outbox.purge(now=T0 + 86400 * 31, retention_days=30) == 1
    assert outbox.get_item(second).payload is None
    assert outbox.get_item(second).content_hash  # hashes stay
    with pytest.raises(IllegalTransition, match="retention"):
        outbox.resend([second], now=T0 + 86400 * 32)


def test_purged_hash_still_suppresses_duplicates(outbox):
    add(outbox, 1)
    b = claim(outbox)
    outbox.complete(b.id, owner="s1", receipt="r", status=201, now=T0 + 2)
    outbox.purge(now=T0 + 86400 * 2, retention_days=1)
    assert add(outbox, 1, now=T0 + 86400 * 3).duplicates == 1


def test_counts_and_oldest_pending(outbox):
    add(outbox, 2, now=T0)
    add(outbox, 1, start=5, now=T0 + 50)
    c = outbox.counts()
    assert c.by_state["pending"] == 3 and c.oldest_pending_at == T0


def test_list_and_search(outbox):
    add(outbox, 3, source_name="a.csv")
    assert [i.id for i in outbox.list_items(limit=2)] == [3, 2]
    assert outbox.list_items(search="id-1")[0].tracking_id == "id-1"
    assert outbox.count_items(search="a.csv") == 3
    assert outbox.count_items(state="sent") == 0
    with pytest.raises(ValueError):
        outbox.list_items(state="bogus")


def test_file_transaction_all_or_nothing(outbox):
    with pytest.raises(RuntimeError):
        with outbox.file_transaction(name="f.csv", path=None, file_hash="h", size=1, source="watch", client="c",
                                     columns=COLUMNS, now=T0) as tx:
            tx.add(2, '["a","b","c"]', "a", "hash-a")
            raise RuntimeError("crash in the middle")
    assert outbox.count_items() == 0 and outbox.known_file("h", "f.csv") is None
    with outbox.file_transaction(name="f.csv", path=None, file_hash="h", size=1, source="watch", client="c",
                                 columns=COLUMNS, now=T0) as tx:
        tx.add(2, '["a","b","c"]', "a", "hash-a")
        tx.add(3, '["a","b","c"]', "a", "hash-a")
        tx.add(4, '["d","e","f"]', "d", "hash-d")
    rec = outbox.known_file("h", "f.csv")
    assert (rec.rows_accepted, rec.rows_duplicate) == (2, 1)
    assert outbox.list_duplicates()[0]["original_item_id"] == 1
    with outbox.file_transaction(name="f.csv", path=None, file_hash="h", size=1, source="watch", client="c",
                                 columns=COLUMNS, now=T0) as tx:
        assert tx.already_known is not None
        with pytest.raises(IllegalTransition):
            tx.add(2, "[]", None, "x")


def test_column_set_of_a_rolled_back_transaction_is_not_remembered(outbox):
    other = ("Result_ID", "Other")
    broken = NewItem(content_hash=None, payload="[]", columns=other)  # type: ignore[arg-type]
    with pytest.raises(Exception, match="NOT NULL"):
        outbox.add_items([new_item(1, other), broken], source="listener", client="c", now=T0)
    assert other not in outbox._column_sets
    third = ("Third", "Set")
    a = outbox.add_items([new_item(2, third)], source="listener", client="c", now=T0)  # may reuse the freed id
    b = outbox.add_items([new_item(3, other)], source="listener", client="c", now=T0)
    assert outbox.get_item(a.ids[0]).columns == third and outbox.get_item(b.ids[0]).columns == other
    assert set(outbox._column_sets) >= {third, other}


def test_keyset_paging_and_searchable_duplicates(outbox):
    add(outbox, 5, source_name="a.csv")
    page1 = outbox.list_items(limit=2)
    page2 = outbox.list_items(limit=2, before_id=page1[-1].id)
    assert [i.id for i in page1 + page2] == [5, 4, 3, 2]
    assert [i.id for i in outbox.list_items(state="pending", limit=10, before_id=3)] == [2, 1]
    outbox.add_items([new_item(0)], source="file", client="c", now=T0, source_name="copy.csv")
    assert outbox.count_duplicates() == 1 and outbox.count_duplicates(search="copy") == 1
    assert outbox.count_duplicates(search="id-0") == 1 and outbox.count_duplicates(search="nothing") == 0
    assert outbox.list_duplicates(search="copy")[0]["source_name"] == "copy.csv"
    assert outbox.count_files() == 0


def test_repeated_rows_with_no_duplicate_window_are_all_kept(tmp_path):
    box = Outbox(tmp_path / "nowindow.db", dedupe_window_days=0)
    with box.file_transaction(name="f.csv", path=None, file_hash="h", size=1, source="watch", client="c",
                              columns=COLUMNS, now=T0) as tx:
        tx.add(2, '["a","b","c"]', "a", "same")
        tx.add(3, '["a","b","c"]', "a", "same")
    assert box.count_items() == 2 and box.counts().duplicates == 0
    box.close()


def test_release_owner_takes_back_every_claim_of_that_sender(outbox):
    add(outbox, 3)
    claim(outbox, limit=1, owner="host:1:ab_c/1")
    claim(outbox, limit=1, owner="host:1:ab_c/2")
    claim(outbox, limit=1, owner="host:1:abXc/3")  # another sender: "_" must not match any character
    assert outbox.release_owner("host:1:ab_c", now=T0 + 2) == 2
    assert states(outbox) == {"pending": 2, "sending": 1}


def test_expired_batch_that_was_sent_is_parked_and_retried_under_the_same_key(outbox):
    add(outbox, 2)
    b = claim(outbox)
    outbox.backoff(b.id, owner="s1", next_at=T0 + 10, status=504, error="lost reply", now=T0 + 2)
    later = T0 + 15 * 86400
    assert outbox.expire(now=later, after_days=14) == 2
    assert states(outbox) == {"dead": 2}
    assert claim(outbox, now=later + 1) is None and outbox.next_due_at() is None
    outbox.retry([b.item_ids[0]], now=later + 2)
    again = claim(outbox, now=later + 3)
    assert (again.id, again.idempotency_key, again.body) == (b.id, b.idempotency_key, b.body)
    assert states(outbox) == {"sending": 2}


def test_expired_batch_given_back_by_a_stopping_sender_keeps_its_key(outbox):
    # A sender that stops aborts a request in flight and gives the lease back: the intake may
    # hold the batch, so it is parked on expiry like any batch that was leased.
    add(outbox, 2)
    b = claim(outbox)
    outbox.release(b.id, owner="s1", now=T0 + 2)
    outbox.expire(now=T0 + 15 * 86400, after_days=14)
    outbox.retry(state="dead", now=T0 + 15 * 86400)
    again = claim(outbox, now=T0 + 15 * 86400 + 1)
    assert again.id == b.id and again.idempotency_key == b.idempotency_key


def test_send_now_leaves_a_parked_batch_for_a_person(outbox):
    add(outbox, 1)
    b = claim(outbox)
    outbox.backoff(b.id, owner="s1", next_at=T0 + 10, status=504, error="lost reply", now=T0 + 2)
    later = T0 + 15 * 86400
    outbox.expire(now=later, after_days=14)
    outbox.make_due(now=later + 1)
    assert claim(outbox, now=later + 2) is None and states(outbox) == {"dead": 1}


def test_discard_is_a_person_setting_failed_or_dead_items_aside_never_a_deletion(outbox):
    add(outbox, 3)
    b = claim(outbox, limit=2)
    outbox.fail_batch(b.id, owner="s1", reason="bad code", status=400, now=T0 + 2)
    with pytest.raises(IllegalTransition, match="only failed or dead items can be discarded"):
        outbox.discard([3], now=T0 + 3)  # pending
    assert outbox.discard([1], now=T0 + 3, actor="ana", reason="test record") == [1]
    assert states(outbox) == {"pending": 1, "failed": 1, "discarded": 1}
    item = outbox.get_item(1)
    assert item.payload is not None and item.last_error == "bad code"  # content and reason kept
    assert outbox.expire(now=T0 + 86400 * 60, after_days=14) == 2  # pending + failed expire; discarded stays
    assert states(outbox) == {"dead": 2, "discarded": 1}
    assert outbox.retry(state="dead", now=T0 + 86400 * 60) == [2, 3]
    assert outbox.retry(state="discarded", now=T0 + 86400 * 60) == [1]
    assert states(outbox) == {"pending": 3}
    assert [(h.kind, h.detail) for h in outbox.history(1) if h.kind in ("discard", "retry")] == [
        ("discard", "by ana: test record"), ("retry", "by person")]


def test_discarding_an_item_of_a_parked_batch_sets_aside_the_whole_batch_and_keeps_its_key(outbox):
    add(outbox, 3)
    b = claim(outbox, limit=2)
    outbox.backoff(b.id, owner="s1", next_at=T0 + 10, status=504, error="lost reply", now=T0 + 2)
    later = T0 + 15 * 86400
    outbox.expire(now=later, after_days=14)
    assert outbox.discard([b.item_ids[0]], now=later + 1) == list(b.item_ids)
    assert states(outbox) == {"discarded": 2, "dead": 1}
    assert claim(outbox, now=later + 2) is None  # nothing of it is sent
    # a person changes their mind: the whole batch comes back, and the answer says so
    assert outbox.retry([b.item_ids[1]], now=later + 3) == [b.item_ids[1], b.item_ids[0]]
    again = claim(outbox, now=later + 4)
    assert again.id == b.id and again.idempotency_key == b.idempotency_key and again.item_ids == b.item_ids
    assert states(outbox) == {"sending": 2, "dead": 1}


def test_retry_of_every_dead_item_works_for_more_items_than_a_statement_may_name(outbox):
    # SQLite builds differ (999, 32766, 250000 variables a statement); the smallest one here.
    outbox.db.conn.setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, 999)
    outbox.add_items([new_item(i) for i in range(3_000)], source="listener", client="c", now=T0)
    assert outbox.expire(now=T0 + 86400 * 30, after_days=14) == 3_000
    assert len(outbox.retry(state="dead", now=T0 + 86400 * 30)) == 3_000
    assert states(outbox) == {"pending": 3_000}


def test_a_batch_sent_just_before_a_crash_is_parked_on_expiry_never_re_keyed(outbox):
    add(outbox, 2)
    b = claim(outbox)  # sent; the process died before any answer was recorded (attempts still 0)
    assert outbox.reclaim_expired(now=T0 + 100) == 1
    later = T0 + 15 * 86400
    assert outbox.expire(now=later, after_days=14) == 2
    outbox.retry(state="dead", now=later + 1)
    again = claim(outbox, now=later + 2)
    assert again.id == b.id and again.idempotency_key == b.idempotency_key and again.body == b.body


def test_a_batch_formed_but_never_leased_is_closed_on_expiry_and_its_items_rebatched(outbox):
    add(outbox, 4)
    b = claim(outbox, limit=4)
    children = outbox.split(b.id, owner="s1", build=csv_build, status=413, reason="too large", now=T0 + 2)
    later = T0 + 15 * 86400
    assert outbox.expire(now=later, after_days=14) == 4
    closed = outbox.db.conn.execute(
        f"SELECT count(*) FROM batches WHERE state = 'closed' AND id IN ({','.join('?' * len(children))})",
        children).fetchone()[0]
    assert closed == len(children)  # never sent: nothing for the intake to hold
    outbox.retry(state="dead", now=later + 1)
    assert claim(outbox, now=later + 2).id not in (b.id, *children)
