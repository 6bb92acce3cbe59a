"""Migration 4: a batch's state held on the batch while it is out.

An outbox of schema 3, with items in every state written as schema 3 wrote them, reads the same
after the migration (states, attempts, last answers, counts, lists), and its open batches go on.
"""

from __future__ import annotations

import sqlite3

from relay.store.batches import PARKED
from relay.store.db import _statements
from relay.store.outbox import Outbox
from relay.store.schema import MIGRATIONS

T = 1_767_225_600.0

# item id -> (stored state in schema 3, batch id, attempts, last_status, last_error, next_attempt_at)
ITEMS = {
    1: ("sending", 1, 3, 503, "busy", T + 10),  # leased batch 1, backed off once before this lease
    2: ("sending", 1, 3, 503, "busy", T + 10),
    3: ("pending", 2, 2, 503, "busy", T + 100),  # batch 2 backed off twice, waiting for its next try
    4: ("sent", 3, 1, 201, None, T),
    5: ("failed", None, 1, 422, "refused", T),
    6: ("dead", 4, 1, None, "not delivered within 30 days", T),  # parked batch 4
    7: ("discarded", 4, 1, None, "not delivered within 30 days", T),
    8: ("pending", None, 0, None, None, T),
}
# batch id -> (state, attempts, lease_owner, lease_until, next_attempt_at, last_status, last_error)
BATCHES = {
    1: ("open", 1, "old-sender", T + 60, T + 10, 503, "busy"),
    2: ("open", 2, None, None, T + 100, 503, "busy"),
    3: ("done", 1, None, None, T, 201, None),
    4: ("open", 1, None, None, PARKED, 503, "busy"),
}
READ_STATES = {1: "sending", 2: "sending", 3: "pending", 4: "sent", 5: "failed", 6: "dead", 7: "discarded",
               8: "pending"}


def _schema_3(path):
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, "
                 "applied_at TEXT NOT NULL)")
    for number, name, sql in MIGRATIONS[:3]:
        for statement in _statements(sql):
            conn.execute(statement)
        conn.execute("INSERT INTO schema_migrations VALUES (?, ?, 'then')", (number, name))
    conn.execute("PRAGMA user_version = 3")
    conn.execute("INSERT INTO column_sets (id, key, columns) VALUES (1, 'k', '[\"a\"]')")
    for batch_id, (state, attempts, owner, until, next_at, status, error) in BATCHES.items():
        conn.execute("INSERT INTO batches (id, idempotency_key, state, client, content_type, item_count, attempts, "
                     "next_attempt_at, lease_owner, lease_until, last_status, last_error, created_at, updated_at, "
                     "claimed_at) VALUES (?, ?, ?, 'c', 'text/csv', 1, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                     (batch_id, f"key-{batch_id}", state, attempts, next_at, owner, until, status, error, T, T, T))
        conn.execute("INSERT INTO batch_bodies (batch_id, body) VALUES (?, ?)", (batch_id, f"a\r\n{batch_id}\r\n".encode()))
    positions: dict[int, int] = {}
    for item_id, (state, batch_id, attempts, status, error, next_at) in ITEMS.items():
        conn.execute("INSERT INTO items (id, state, source, client, tracking_id, content_hash, column_set_id, "
                     "group_key, attempts, next_attempt_at, batch_id, last_status, last_error, receipt, created_at, "
                     "updated_at, sent_at) VALUES (?, ?, 'x', 'c', ?, ?, 1, 'c|1|', ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                     (item_id, state, f"t{item_id}", f"h{item_id}", attempts, next_at, batch_id, status, error,
                      "r" if state == "sent" else None, T, T, T if state == "sent" else None))
        conn.execute("INSERT INTO payloads (item_id, payload) VALUES (?, ?)", (item_id, str(item_id)))
        if batch_id is not None:
            positions[batch_id] = positions.get(batch_id, 0) + 1
            conn.execute("INSERT INTO batch_items VALUES (?, ?, ?)", (batch_id, positions[batch_id], item_id))
    conn.commit()
    conn.close()


def test_every_state_reads_the_same_after_the_migration(tmp_path):
    _schema_3(tmp_path / "o.db")
    with Outbox(tmp_path / "o.db") as box:
        assert box.db.conn.execute("PRAGMA user_version").fetchone()[0] == MIGRATIONS[-1][0] >= 4
        assert box.db.conn.execute("SELECT count(*) FROM items WHERE state = 'sending'").fetchone()[0] == 0
        for item_id, (_, _, attempts, status, error, next_at) in ITEMS.items():
            item = box.get_item(item_id)
            assert item is not None
            assert (item.state, item.attempts, item.last_status, item.last_error, item.next_attempt_at) == (
                READ_STATES[item_id], attempts, status, error, next_at), item_id
        counts = box.counts().by_state
        assert counts == {"pending": 2, "sending": 2, "sent": 1, "failed": 1, "dead": 1, "discarded": 1}
        assert box.count_items(state="sending") == 2 and box.count_items(state="pending") == 2
        assert [i.id for i in box.list_items(state="pending")] == [8, 3]
        assert [i.id for i in box.list_items(state="sending")] == [2, 1]
        assert box.count_items(search="t3") == 1  # the window's search by tracking id, without its index
        names = {r[0] for r in box.db.conn.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
        assert "items_tracking" not in names and "items_state" in names


def test_the_migrated_batches_go_on_where_they_were(tmp_path):
    _schema_3(tmp_path / "o.db")
    with Outbox(tmp_path / "o.db") as box:
        # The leased batch is answered by the sender that held it: its items are sent, one more attempt.
        assert box.complete(1, owner="old-sender", receipt="r1", status=201, now=T + 20) == 2
        assert [(box.get_item(i).state, box.get_item(i).attempts) for i in (1, 2)] == [("sent", 4), ("sent", 4)]
        # The backed-off batch is claimed when due, the same key and bytes, and backs off again.
        batch = box.claim(now=T + 100, lease_s=60, owner="s", limit=10, build=lambda _: None)  # type: ignore[arg-type,return-value]
        assert batch is not None and batch.idempotency_key == "key-2" and batch.body == b"a\r\n2\r\n"
        assert box.get_item(3).state == "sending"
        box.backoff(2, owner="s", next_at=T + 500, status=503, error="still busy", now=T + 101)
        item = box.get_item(3)
        assert (item.state, item.attempts, item.last_error, item.next_attempt_at) == ("pending", 3, "still busy", T + 500)
        # The parked batch goes again whole when a person retries one of its items.
        assert sorted(box.retry([6], now=T + 200)) == [6, 7]
        batch = box.claim(now=T + 200, lease_s=60, owner="s", limit=10, build=lambda _: None)  # type: ignore[arg-type,return-value]
        assert batch is not None and batch.idempotency_key == "key-4"
        assert [box.get_item(i).state for i in (6, 7)] == ["sending", "sending"]
        box.complete(4, owner="s", receipt="r4", status=201, now=T + 201)
        assert [(box.get_item(i).state, box.get_item(i).attempts) for i in (6, 7)] == [("sent", 2), ("sent", 2)]
        assert box.counts().by_state == {"pending": 2, "sending": 0, "sent": 5, "failed": 1, "dead": 0, "discarded": 0}


def test_duplicates_of_older_items_are_found_by_the_new_key(tmp_path):
    import hashlib

    from relay.store.file_tx import hash_key
    from relay.store.models import NewItem

    _schema_3(tmp_path / "o.db")
    odd = ["", "abc", "ABCDEF0123456789", "zz" * 40, "0" * 64, "f" * 64, "0x1234567890abcdef", "1_234567890abcdef",
           " 1234567890abcdef", "-1234567890abcdef", "+1234567890abcdef"]
    real = [hashlib.sha256(str(n).encode()).hexdigest() for n in range(50)]
    conn = sqlite3.connect(tmp_path / "o.db")
    for n, h in enumerate(odd + real, start=100):
        conn.execute("INSERT INTO items (id, state, source, client, content_hash, group_key, next_attempt_at, "
                     "created_at, updated_at) VALUES (?, 'sent', 'x', 'c', ?, 'g', 0, ?, 0)", (n, h, T))
    conn.commit()
    conn.close()
    with Outbox(tmp_path / "o.db") as box:
        # The key schema 4 wrote in SQL for older rows is the one relay computes for new ones.
        for content_hash, key in box.db.conn.execute("SELECT content_hash, hash_key FROM items"):
            assert key == hash_key(content_hash), content_hash
        again = box.add_items([NewItem(real[7], "p"), NewItem("new" + real[7], "q"), NewItem("h8", "r")],
                              source="x", client="c", now=T + 1)
        assert again.duplicate == [True, False, True] and again.ids[0] == 100 + len(odd) + 7 and again.ids[2] == 8
