"""Migration 3: item kinds and the wire form of a payload."""

from __future__ import annotations

import sqlite3

from relay.store.db import _statements
from relay.store.models import NewItem
from relay.store.outbox import Outbox
from relay.store.schema import MIGRATIONS


def _schema_2(path):
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, "
                 "applied_at TEXT NOT NULL)")
    for number, name, sql in MIGRATIONS[:2]:
        for statement in _statements(sql):
            conn.execute(statement)
        conn.execute("INSERT INTO schema_migrations VALUES (?, ?, 'then')", (number, name))
    conn.execute("PRAGMA user_version = 2")
    conn.execute("INSERT INTO column_sets (id, key, columns) VALUES (1, 'k', '[\"a\"]')")
    for item_id, cs in ((1, 1), (2, None)):
        conn.execute("INSERT INTO items (id, state, source, client, content_hash, column_set_id, group_key, "
                     "next_attempt_at, created_at, updated_at) VALUES (?, 'pending', 'x', 'c', ?, ?, 'g', 0, 0, 0)",
                     (item_id, f"h{item_id}", cs))
        conn.execute("INSERT INTO payloads (item_id, payload) VALUES (?, 'p')", (item_id,))
    conn.commit()
    conn.close()


def test_existing_items_get_their_kind_and_payloads_a_wire_column(tmp_path):
    _schema_2(tmp_path / "o.db")
    with Outbox(tmp_path / "o.db") as box:
        kinds = dict(box.db.conn.execute("SELECT id, kind FROM items"))
        assert kinds == {1: "row", 2: "json"}
        assert box.db.conn.execute("SELECT wire FROM payloads WHERE item_id = 1").fetchone() == (None,)


def test_kinds_never_share_a_batch_and_wire_reaches_the_builder(tmp_path):
    with Outbox(tmp_path / "o.db") as box:
        box.add_items([NewItem("h1", '{"a":1}'), NewItem("h2", "MSH|^~\\&|A", kind="hl7", wire="MSH|wire"),
                       NewItem("h3", '{"b":2}')], source="t", client="c", now=1.0)
        seen = []

        def build(members):
            from relay.store.models import BatchSpec
            seen.append([(m.kind, m.wire) for m in members])
            return BatchSpec("x", b"body")

        while box.claim(now=2.0, lease_s=60, owner="o", limit=10, build=build):
            pass
        assert sorted(seen) == [[("hl7", "MSH|wire")], [("json", None), ("json", None)]]
        assert box.get_item(2).kind == "hl7"
        box.db.conn.execute("SELECT 1")  # still usable
        try:
            with box.db.transaction() as conn:
                conn.execute("UPDATE items SET kind = 'fhir' WHERE id = 1")
        except Exception as exc:  # the CHECK keeps kinds to the known ones
            assert "CHECK" in str(exc) or "constraint" in str(exc).lower()
        else:
            raise AssertionError("an unknown kind was stored")


def test_a_file_transaction_stores_the_wire_form_of_its_rows(tmp_path):
    with Outbox(tmp_path / "o.db") as box:
        with box.file_transaction(name="f.csv", path=None, file_hash="fh", size=1, source="watch", client="c",
                                  columns=("a",), now=1.0, kind="hl7") as tx:
            tx.add(1, "\x1fone", "t1", "h1", wire="MSH|^~\\&|one")
            tx.add(2, "\x1ftwo", "t2", "h2")
        rows = box.db.conn.execute("SELECT i.kind, p.payload, p.wire FROM items i JOIN payloads p "
                                   "ON p.item_id = i.id ORDER BY i.id").fetchall()
        assert rows == [("hl7", "\x1fone", "MSH|^~\\&|one"), ("hl7", "\x1ftwo", None)]
