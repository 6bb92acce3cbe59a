"""The outbox schema as numbered migrations. Never edit a released migration: add the next one."""

from __future__ import annotations

MIGRATIONS: list[tuple[int, str, str]] = [
    (
        1,
        "initial outbox",
        """
CREATE TABLE column_sets (
    id INTEGER PRIMARY KEY,
    key TEXT NOT NULL UNIQUE,
    columns TEXT NOT NULL
);

CREATE TABLE files (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    path TEXT,
    file_hash TEXT NOT NULL,
    size INTEGER,
    source TEXT NOT NULL,
    outcome TEXT NOT NULL CHECK (outcome IN ('accepted', 'rejected')),
    rows_accepted INTEGER NOT NULL DEFAULT 0,
    rows_duplicate INTEGER NOT NULL DEFAULT 0,
    rows_rejected INTEGER NOT NULL DEFAULT 0,
    blank_rows INTEGER NOT NULL DEFAULT 0,
    reason TEXT,
    moved_to TEXT,
    created_at REAL NOT NULL
);
CREATE UNIQUE INDEX files_hash_name ON files(file_hash, name);
CREATE INDEX files_created ON files(created_at);

CREATE TABLE batches (
    id INTEGER PRIMARY KEY,
    idempotency_key TEXT NOT NULL UNIQUE,
    state TEXT NOT NULL CHECK (state IN ('open', 'done', 'closed')),
    client TEXT NOT NULL,
    content_type TEXT NOT NULL,
    payloadname TEXT,
    body BLOB,
    item_count INTEGER NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at REAL NOT NULL,
    lease_owner TEXT,
    lease_until REAL,
    last_status INTEGER,
    last_error TEXT,
    receipt TEXT,
    parent_id INTEGER REFERENCES batches(id),
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL
);
CREATE INDEX batches_open ON batches(next_attempt_at) WHERE state = 'open';
CREATE INDEX batches_done_body ON batches(updated_at) WHERE state <> 'open' AND body IS NOT NULL;

CREATE TABLE items (
    id INTEGER PRIMARY KEY,
    state TEXT NOT NULL CHECK (state IN ('pending', 'sending', 'sent', 'failed', 'dead')),
    source TEXT NOT NULL,
    source_name TEXT,
    file_id INTEGER REFERENCES files(id),
    line INTEGER,
    client TEXT NOT NULL,
    tracking_id TEXT,
    content_hash TEXT NOT NULL,
    column_set_id INTEGER REFERENCES column_sets(id),
    payload TEXT,
    group_key TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at REAL NOT NULL,
    batch_id INTEGER REFERENCES batches(id),
    last_status INTEGER,
    last_error TEXT,
    receipt TEXT,
    forced INTEGER NOT NULL DEFAULT 0,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    sent_at REAL
);
CREATE INDEX items_hash ON items(content_hash, created_at);
CREATE INDEX items_state ON items(state);
CREATE INDEX items_batch ON items(batch_id) WHERE batch_id IS NOT NULL;
CREATE INDEX items_tracking ON items(tracking_id) WHERE tracking_id IS NOT NULL;
CREATE INDEX items_purge ON items(sent_at) WHERE state = 'sent' AND payload IS NOT NULL;

CREATE TABLE batch_items (
    batch_id INTEGER NOT NULL REFERENCES batches(id),
    position INTEGER NOT NULL,
    item_id INTEGER NOT NULL REFERENCES items(id),
    PRIMARY KEY (batch_id, position)
) WITHOUT ROWID;
CREATE INDEX batch_items_item ON batch_items(item_id);

CREATE TABLE batch_events (
    id INTEGER PRIMARY KEY,
    batch_id INTEGER NOT NULL REFERENCES batches(id),
    at REAL NOT NULL,
    kind TEXT NOT NULL,
    status INTEGER,
    detail TEXT
);
CREATE INDEX batch_events_batch ON batch_events(batch_id);

CREATE TABLE duplicates (
    id INTEGER PRIMARY KEY,
    content_hash TEXT NOT NULL,
    original_item_id INTEGER REFERENCES items(id),
    source TEXT NOT NULL,
    source_name TEXT,
    file_id INTEGER REFERENCES files(id),
    line INTEGER,
    tracking_id TEXT,
    seen_at REAL NOT NULL
);
CREATE INDEX duplicates_original ON duplicates(original_item_id);

CREATE TABLE audit (
    id INTEGER PRIMARY KEY,
    at REAL NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    item_id INTEGER,
    detail TEXT
);
CREATE INDEX audit_item ON audit(item_id);

CREATE TABLE control (
    key TEXT PRIMARY KEY,
    value TEXT
);
""",
    ),
    (
        2,
        "content apart from state; discarded items",
        # Item and batch rows are rewritten at every state change (claimed, delivered, retried). With
        # the content kept apart, those rewrites touch a few small rows instead of copying the content
        # again each time (a batch body of 500 rows is a few hundred KB). Items also gain the state
        # 'discarded' (a person's decision not to send), which needs the table rebuilt for its CHECK.
        # Batches gain claimed_at (first leased: from then on the intake may hold the batch, so it
        # is never re-keyed); every batch already there counts as claimed, the safe assumption.
        # Items purged before get purged_at = their last update, the nearest date known.
        # Run with foreign keys off (see Database.migrate) and checked before the commit.
        """
CREATE TABLE items_v2 (
    id INTEGER PRIMARY KEY,
    state TEXT NOT NULL CHECK (state IN ('pending', 'sending', 'sent', 'failed', 'dead', 'discarded')),
    source TEXT NOT NULL,
    source_name TEXT,
    file_id INTEGER REFERENCES files(id),
    line INTEGER,
    client TEXT NOT NULL,
    tracking_id TEXT,
    content_hash TEXT NOT NULL,
    column_set_id INTEGER REFERENCES column_sets(id),
    group_key TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at REAL NOT NULL,
    batch_id INTEGER REFERENCES batches(id),
    last_status INTEGER,
    last_error TEXT,
    receipt TEXT,
    forced INTEGER NOT NULL DEFAULT 0,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    sent_at REAL,
    purged_at REAL
);
INSERT INTO items_v2 (id, state, source, source_name, file_id, line, client, tracking_id, content_hash,
    column_set_id, group_key, attempts, next_attempt_at, batch_id, last_status, last_error, receipt, forced,
    created_at, updated_at, sent_at, purged_at)
SELECT id, state, source, source_name, file_id, line, client, tracking_id, content_hash,
    column_set_id, group_key, attempts, next_attempt_at, batch_id, last_status, last_error, receipt, forced,
    created_at, updated_at, sent_at, CASE WHEN payload IS NULL THEN updated_at END
FROM items;

CREATE TABLE payloads (
    item_id INTEGER PRIMARY KEY REFERENCES items(id),
    payload TEXT NOT NULL
);
INSERT INTO payloads (item_id, payload) SELECT id, payload FROM items WHERE payload IS NOT NULL;

DROP TABLE items;
ALTER TABLE items_v2 RENAME TO items;
CREATE INDEX items_hash ON items(content_hash, created_at);
CREATE INDEX items_state ON items(state);
CREATE INDEX items_batch ON items(batch_id) WHERE batch_id IS NOT NULL;
CREATE INDEX items_tracking ON items(tracking_id) WHERE tracking_id IS NOT NULL;
CREATE INDEX items_purge ON items(sent_at) WHERE state = 'sent' AND purged_at IS NULL;

CREATE TABLE batch_bodies (
    batch_id INTEGER PRIMARY KEY REFERENCES batches(id),
    body BLOB NOT NULL
);
INSERT INTO batch_bodies (batch_id, body) SELECT id, body FROM batches WHERE body IS NOT NULL;
DROP INDEX batches_done_body;
ALTER TABLE batches DROP COLUMN body;
CREATE INDEX batches_closed ON batches(updated_at) WHERE state <> 'open';

ALTER TABLE batches ADD COLUMN claimed_at REAL;
UPDATE batches SET claimed_at = updated_at;
""",
    ),
    (
        3,
        "item kinds; the wire form of a payload",
        # Items gain a kind: 'row' (a CSV row or flat record, with a column set), 'json' (a JSON
        # document) or 'hl7' (one HL7 v2 message, its text with CR separators as the payload). A batch
        # is formed from one group and a group holds one kind, so batches never mix kinds; the kind
        # picks the batch body builder (HL7 items go out as application/hl7-v2 batches).
        # Payloads gain `wire`: the form sent on the wire when it differs from the stored content
        # (a CSV row translated to an HL7 ELR message keeps its row as the payload, for its hash and
        # the window, and the message as `wire`); batch bodies are built from `wire` when it is set.
        # Existing items without a column set are JSON documents.
        """
ALTER TABLE items ADD COLUMN kind TEXT NOT NULL DEFAULT 'row' CHECK (kind IN ('row', 'json', 'hl7'));
UPDATE items SET kind = 'json' WHERE column_set_id IS NULL;
ALTER TABLE payloads ADD COLUMN wire TEXT;
""",
    ),
    (
        4,
        "a batch's state held on the batch while it is out",
        # An item bound to an open batch keeps the stored state 'pending' (or 'dead' once parked): it
        # reads as 'sending' while the batch is leased, and its attempts, last answer and next try are
        # the batch's (items.attempts holds what it had before the batch; the batch's attempts are added
        # on reading and folded in when the batch is answered). Claims, retries after an unknown outcome,
        # releases and reclaimed leases then write the batch row alone; the items are settled in one
        # statement when the intake answers. Items stored as 'sending' become 'pending' (they read as
        # 'sending' while their batch is leased), and attempts counted on both sides lose the batch's.
        # The index by tracking id goes: the window's search also matches parts of file names, which
        # reads every row whatever the index, and it cost a random write per item at arrival.
        # Duplicates are found by hash_key, the first 15 hex digits of the content hash as an integer
        # (relay.store.file_tx.hash_key), then the whole hash compared: an index entry a third the size
        # of (content_hash, created_at), so a file of a million rows dirties far fewer random pages.
        """
UPDATE items SET state = 'pending' WHERE state = 'sending';
UPDATE items SET attempts = max(0, attempts - (SELECT b.attempts FROM batches b WHERE b.id = items.batch_id))
WHERE batch_id IN (SELECT id FROM batches WHERE state = 'open');
DROP INDEX items_tracking;
ALTER TABLE items ADD COLUMN hash_key INTEGER;
UPDATE items SET hash_key =
    (instr('0123456789abcdef', substr(content_hash, 1, 1)) - 1) * 72057594037927936 +
    (instr('0123456789abcdef', substr(content_hash, 2, 1)) - 1) * 4503599627370496 +
    (instr('0123456789abcdef', substr(content_hash, 3, 1)) - 1) * 281474976710656 +
    (instr('0123456789abcdef', substr(content_hash, 4, 1)) - 1) * 17592186044416 +
    (instr('0123456789abcdef', substr(content_hash, 5, 1)) - 1) * 1099511627776 +
    (instr('0123456789abcdef', substr(content_hash, 6, 1)) - 1) * 68719476736 +
    (instr('0123456789abcdef', substr(content_hash, 7, 1)) - 1) * 4294967296 +
    (instr('0123456789abcdef', substr(content_hash, 8, 1)) - 1) * 268435456 +
    (instr('0123456789abcdef', substr(content_hash, 9, 1)) - 1) * 16777216 +
    (instr('0123456789abcdef', substr(content_hash, 10, 1)) - 1) * 1048576 +
    (instr('0123456789abcdef', substr(content_hash, 11, 1)) - 1) * 65536 +
    (instr('0123456789abcdef', substr(content_hash, 12, 1)) - 1) * 4096 +
    (instr('0123456789abcdef', substr(content_hash, 13, 1)) - 1) * 256 +
    (instr('0123456789abcdef', substr(content_hash, 14, 1)) - 1) * 16 +
    (instr('0123456789abcdef', substr(content_hash, 15, 1)) - 1) * 1;
DROP INDEX items_hash;
CREATE INDEX items_hash_key ON items(hash_key);
""",
    ),
    (
        5,
        "batch bodies formed again rather than kept",
        # A batch's body is formed again from its members for a retry (relay.store.models.Rebuilder):
        # a batch keeps the SHA-256 of the body it was first sent with, and a retry goes only if the
        # body formed again has that digest (else its items wait for a person, never other bytes
        # under the same key). Batches formed before keep their bodies in batch_bodies, used as kept.
        """
ALTER TABLE batches ADD COLUMN body_sha256 TEXT;
""",
    ),
]
