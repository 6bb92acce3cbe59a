"""Forming batches: members read, bodies built (and formed again for a retry), batches inserted.

The part of the batch state machine that makes a batch (``BatchTransitions`` in
``relay/store/batches.py`` leases and answers it). A new batch is formed from a snapshot outside
the write transaction where it can be (``_prepare``), its body's digest kept instead of the body
when the builder can form it again (``relay.store.models.Rebuilder``, schema 5).
"""

from __future__ import annotations

import hashlib
import logging
import sqlite3
import threading
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from relay.errors import IllegalTransition
from relay.store.db import Database
from relay.store.file_tx import insert_many
from relay.store.models import Batch, BatchSpec, Content, Member, Rebuilder

log = logging.getLogger("relay.store")

BuildFn = Callable[[Sequence[Content]], BatchSpec]
DUE_OPEN_BATCH = ("SELECT id FROM batches WHERE state = 'open' AND next_attempt_at <= ? "
                  "AND (lease_until IS NULL OR lease_until <= ?) ORDER BY next_attempt_at, id LIMIT 1")


class BodyNotFormedAgain(Exception):
    """A batch's body, formed again from its members, is not the body that was sent."""


class BuildFailed(Exception):
    """Building a batch body from ``item_ids`` raised; nothing was claimed (see ``defer_items``)."""

    def __init__(self, item_ids: Sequence[int], reason: str) -> None:
        super().__init__(reason)
        self.item_ids = tuple(item_ids)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class _Prepared:
    """A new batch formed from a snapshot before the write transaction: its group's client and
    file name, its body and the members it holds."""

    client: str
    source_name: str | None
    spec: BatchSpec
    used: Sequence[Content]


class BatchForming:
    db: Database
    _forming: threading.Lock  # one formation at a time in a process (Outbox)

    if TYPE_CHECKING:  # provided by Outbox
        def columns_of(self, column_set_id: int | None) -> tuple[str, ...] | None: ...

    def _members(self, conn: sqlite3.Connection, where: str, params: Sequence[object], *,
                 indexed: str = "") -> list[Member]:
        """Only what a batch body is built from: five columns instead of an item's twenty, the
        content joined once (not a subquery a column)."""
        columns_of = self.columns_of
        return [Member(r[0], columns_of(r[1]), r[2], r[3], r[4])
                for r in conn.execute(f"SELECT id, column_set_id, payload, kind, wire FROM items {indexed} "
                                      f"LEFT JOIN payloads ON payloads.item_id = items.id {where}", params)]

    def _prepare(self, *, now: float, limit: int, build: BuildFn) -> _Prepared | None:
        """A new batch formed from what is committed, outside the write transaction: reading its
        members and building its body (most of a claim's work) leave the outbox free for files
        and answers meanwhile. The transaction then checks its members are still free (``_free``).
        None when an open batch is due (it goes first) or nothing is pending. Raises BuildFailed."""
        with self.db.snapshot() as conn:
            if conn.execute(DUE_OPEN_BATCH, (now, now)).fetchone():
                return None
            return self._form_new(conn, now, limit, build)

    def _form_new(self, conn: sqlite3.Connection, now: float, limit: int, build: BuildFn) -> _Prepared | None:
        """A new batch (not yet stored) of the oldest due pending items of one group. Raises BuildFailed."""
        found = self._due_members(conn, now, limit)
        if found is None:
            return None
        client, source_name, members = found
        try:
            spec, used = self._build(members, build, now)
        except Exception as exc:  # recorded on the items by the caller, never silent
            raise BuildFailed([m.id for m in members], f"{type(exc).__name__}: {exc}") from exc
        return _Prepared(client, source_name, spec, used)

    def _due_members(self, conn: sqlite3.Connection, now: float,
                     limit: int) -> tuple[str, str | None, list[Member]] | None:
        """The oldest due pending items of one group, not in a batch: (client, file name, members)."""
        # Unbatched pending items are due at once in practice (retry and requeue set "now"),
        # so the oldest one, found through the state index, names the next group.
        first = conn.execute(
            "SELECT group_key, client, source_name FROM items INDEXED BY items_state WHERE state = 'pending' "
            "AND batch_id IS NULL AND next_attempt_at <= ? ORDER BY id LIMIT 1",
            (now,),
        ).fetchone()
        if first is None:
            return None
        members = self._members(
            conn,
            "WHERE state = 'pending' AND batch_id IS NULL AND group_key = ? "
            "AND next_attempt_at <= ? ORDER BY id LIMIT ?",
            (first[0], now, limit), indexed="INDEXED BY items_state",
        )
        return first[1], first[2], members

    @staticmethod
    def _free(conn: sqlite3.Connection, used: Sequence[Content]) -> bool:
        """Whether every one of ``used`` is still pending and in no batch (a person's action in
        another process may have changed one since the snapshot)."""
        ids = [m.id for m in used]
        marks = ",".join("?" * len(ids))
        count = conn.execute(f"SELECT count(*) FROM items WHERE id IN ({marks}) AND state = 'pending' "
                             "AND batch_id IS NULL", ids).fetchone()[0]
        return bool(count == len(ids))

    @staticmethod
    def _build(members: Sequence[Content], build: BuildFn, now: float) -> tuple[BatchSpec, Sequence[Content]]:
        """The body of ``members`` or of the prefix of them that ``build`` fitted into one body."""
        spec = build.form(members, now) if isinstance(build, Rebuilder) else build(members)
        used = members[: spec.item_count] if spec.item_count is not None else members
        if not used:
            raise IllegalTransition("a batch needs at least one item")
        return spec, used

    def _form(self, conn: sqlite3.Connection, members: Sequence[Content], build: BuildFn, now: float, *,
              client: str, source_name: str | None, parent: int | None) -> tuple[int, int]:
        """A new batch of ``members`` (one group: same client, columns and file), or of the prefix
        of them that ``build`` fitted into one body: (its id, how many members it took)."""
        spec, used = self._build(members, build, now)
        batch = self._insert(conn, spec, used, now, client=client, source_name=source_name, parent=parent,
                             keep_body=not isinstance(build, Rebuilder))
        return batch.id, len(used)

    def _insert(self, conn: sqlite3.Connection, spec: BatchSpec, used: Sequence[Content], now: float, *,
                client: str, source_name: str | None, parent: int | None,
                lease: tuple[str, float] | None = None, keep_body: bool = False) -> Batch:
        """The batch row, the digest of its body (the body itself only with ``keep_body``: a
        ``Rebuilder`` forms it again for a retry), its members; the items bound to it (their state
        stays 'pending': they read as 'sending' while the batch is leased)."""
        owner, until = lease if lease is not None else (None, None)
        key = str(uuid.uuid4())
        cur = conn.execute(
            "INSERT INTO batches (idempotency_key, state, client, content_type, payloadname, item_count, "
            "next_attempt_at, parent_id, created_at, updated_at, lease_owner, lease_until, claimed_at, body_sha256) "
            "VALUES (?, 'open', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (key, client, spec.content_type, source_name, len(used), now, parent, now, now, owner, until,
             now if lease is not None else None, hashlib.sha256(spec.body).hexdigest()),
        )
        batch_id = cur.lastrowid
        assert batch_id is not None
        ids = tuple(it.id for it in used)
        if keep_body:
            conn.execute("INSERT INTO batch_bodies (batch_id, body) VALUES (?, ?)", (batch_id, spec.body))
        insert_many(conn, "INSERT INTO batch_items (batch_id, position, item_id) VALUES ", "(?, ?, ?)",
                    [(batch_id, pos, item_id) for pos, item_id in enumerate(ids, start=1)])
        conn.execute("UPDATE items SET batch_id = ?, updated_at = ? WHERE id IN "
                     "(SELECT item_id FROM batch_items WHERE batch_id = ?)", (batch_id, now, batch_id))
        self._event(conn, batch_id, now, "formed", None, f"{len(used)} items")
        return Batch(id=batch_id, idempotency_key=key, state="open", client=client, content_type=spec.content_type,
                     payloadname=source_name, body=spec.body, item_ids=ids, attempts=0, next_attempt_at=now,
                     created_at=now)

    def _batch(self, conn: sqlite3.Connection, batch_id: int, build: BuildFn | None = None) -> Batch:
        """The batch with its body: the one kept, else formed again by ``build`` (a ``Rebuilder``)
        from its members and checked against the digest taken when it was first formed; without
        a ``build``, a body not kept is left empty. Raises BodyNotFormedAgain when it differs."""
        row = conn.execute(
            "SELECT id, idempotency_key, state, client, content_type, payloadname, "
            "(SELECT body FROM batch_bodies WHERE batch_id = batches.id), attempts, "
            "next_attempt_at, created_at, body_sha256 FROM batches WHERE id = ?",
            (batch_id,),
        ).fetchone()
        if row is None:
            raise IllegalTransition(f"there is no batch {batch_id}")
        ids = tuple(r[0] for r in conn.execute(
            "SELECT item_id FROM batch_items WHERE batch_id = ? ORDER BY position", (batch_id,)))
        body = bytes(row[6]) if row[6] is not None else b""
        if row[6] is None and isinstance(build, Rebuilder):
            body = self._form_again(conn, batch_id, ids, build, content_type=row[4], formed_at=row[9], digest=row[10])
        return Batch(id=row[0], idempotency_key=row[1], state=row[2], client=row[3], content_type=row[4],
                     payloadname=row[5], body=body, item_ids=ids, attempts=row[7],
                     next_attempt_at=row[8], created_at=row[9])

    def _form_again(self, conn: sqlite3.Connection, batch_id: int, ids: Sequence[int], build: Rebuilder, *,
                    content_type: str, formed_at: float, digest: str | None) -> bytes:
        """The body of a batch whose body was not kept, formed again from its members in order."""
        members = self._members(conn, "JOIN batch_items bi ON bi.item_id = items.id WHERE bi.batch_id = ? "
                                "ORDER BY bi.position", (batch_id,))
        try:
            if [m.id for m in members] != list(ids):
                raise ValueError("some of its results are no longer in the outbox")
            body = build.again(members, content_type, formed_at).body
        except Exception as exc:  # noqa: BLE001  (a member whose content was removed, an unknown type)
            raise BodyNotFormedAgain(f"{type(exc).__name__}: {exc}") from exc
        if digest is None or hashlib.sha256(body).hexdigest() != digest:
            raise BodyNotFormedAgain("the body formed again from its results is not the one first sent")
        return body

    def _give_up_body(self, conn: sqlite3.Connection, batch_id: int, detail: str, now: float) -> None:
        """A batch whose exact bytes cannot be formed again is never sent with other bytes under its
        key (the intake may hold the first ones): it closes, and its results wait for a person."""
        reason = (f"relay could not form this batch's body again byte for byte ({detail}); the intake may hold "
                  "it already, so these results wait for a person (Retry sends them in a new batch)")
        log.error("batch %d: its body could not be formed again (%s); its items are failed", batch_id, detail)
        before = conn.execute("SELECT attempts FROM batches WHERE id = ?", (batch_id,)).fetchone()[0]
        conn.execute("UPDATE items SET state = 'failed', last_error = ?, attempts = attempts + ?, batch_id = NULL, "
                     "updated_at = ? WHERE batch_id = ? AND state = 'pending'", (reason, before, now, batch_id))
        conn.execute("UPDATE batches SET state = 'closed', last_error = ?, lease_owner = NULL, lease_until = NULL, "
                     "updated_at = ? WHERE id = ?", (reason, now, batch_id))
        self._event(conn, batch_id, now, "closed", None, reason)

    def get_batch(self, batch_id: int, build: BuildFn | None = None) -> Batch:
        """The batch; its body as kept, or formed again with ``build`` (else empty when not kept)."""
        with self.db.lock:
            return self._batch(self.db.conn, batch_id, build)

    @staticmethod
    def _event(conn: sqlite3.Connection, batch_id: int, now: float, kind: str, status: int | None,
               detail: str | None) -> None:
        conn.execute("INSERT INTO batch_events (batch_id, at, kind, status, detail) VALUES (?, ?, ?, ?, ?)",
                     (batch_id, now, kind, status, detail))
