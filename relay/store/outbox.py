"""The outbox: every way an item enters, and every person-initiated action, each one transaction.

Delivery transitions (claim, complete, back off, ...) are in ``batches.py``; read-only queries in
``queries.py``. All SQL is parameterised.
"""

from __future__ import annotations

import contextlib
import json
import logging
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

from relay.errors import IllegalTransition
from relay.hashing import sha256_text
from relay.store.batches import BatchTransitions
from relay.store.db import Database
from relay.store.file_tx import FileTransaction, add_chunk, hash_key
from relay.store.models import WAITING_FOR_A_PERSON, AddResult, FileRecord, NewItem
from relay.store.held import STATE_OF_ITEM
from relay.store.queries import Queries
from relay.store.tallies import Tallies

log = logging.getLogger("relay.store")

DAY = 86_400.0
ADD_CHUNK = 1000  # items added together: one duplicate lookup and one INSERT a table...
ADD_CHUNK_CHARS = 1024 * 1024  # ...or fewer when they are this large (SQLite copies what an INSERT binds)


class Outbox(BatchTransitions, Queries, Tallies):
    """The durable outbox. Thread-safe; one instance per process and database file.

    It plays every role of ``relay.store.roles`` (item sink, batch ledger, person actions, control
    values, queries); callers are given only the role they use. ``QueryView`` is the read-only one."""

    def __init__(
        self,
        path: Path | str,
        *,
        dedupe_window_days: float = 30.0,
        check: bool | str = True,
        readonly: bool = False,
    ) -> None:
        """``check``: True runs the integrity check, "auto" only when the last agent did not stop
        cleanly, False never."""
        self.path = Path(path)
        self.db = Database(self.path, check=check, readonly=readonly)
        self.dedupe_window_s = dedupe_window_days * DAY
        self._column_sets: dict[tuple[str, ...], int] = {}  # committed column sets
        self._new_column_sets: dict[tuple[str, ...], int] = {}  # inserted by the open transaction
        self._columns_by_id: dict[int, tuple[str, ...]] = {}
        self._forming = threading.Lock()  # one batch formed at a time in this process (see BatchTransitions)

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> Outbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- column sets ------------------------------------------------------------------------

    def _column_set_id(self, conn: sqlite3.Connection, columns: tuple[str, ...]) -> int:
        cached = self._column_sets.get(columns)
        if cached is not None:
            return cached
        text = json.dumps(list(columns), ensure_ascii=False, separators=(",", ":"))
        key = sha256_text(text)
        new = self._new_column_sets.get(columns)
        if new is not None:
            return new
        row = conn.execute("SELECT id FROM column_sets WHERE key = ?", (key,)).fetchone()
        if row:  # committed earlier: safe to remember
            self._column_sets[columns] = row[0]
            return int(row[0])
        cs_id = conn.execute("INSERT INTO column_sets (key, columns) VALUES (?, ?)", (key, text)).lastrowid
        assert cs_id is not None
        # Remembered for good only once this transaction commits: a rolled-back id may be reused.
        self._new_column_sets[columns] = cs_id
        return int(cs_id)

    @contextlib.contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        """A write transaction that keeps the column-set cache true to what was committed."""
        with self.db.lock:
            try:
                with self.db.transaction() as conn:
                    yield conn
            except BaseException:
                self._new_column_sets.clear()
                raise
            self._column_sets.update(self._new_column_sets)
            self._new_column_sets.clear()

    # -- adding items -----------------------------------------------------------------------

    def _originals(self, conn: sqlite3.Connection, hashes: Sequence[str], now: float,
                   keys: Sequence[int] | None = None) -> dict[str, int]:
        """content hash -> id of the item accepted within the window, for those already known.
        ``keys``: the hashes' ``hash_key`` values, when the caller has them already."""
        if self.dedupe_window_s <= 0 or not hashes:
            return {}
        found: dict[str, int] = {}
        wanted = set(hashes)
        keys = list(set(keys) if keys is not None else {hash_key(h) for h in wanted})
        for start in range(0, len(keys), 900):
            part = keys[start:start + 900]
            # By the small integer key (schema 4), then the whole hash: another hash may share a key.
            for content_hash, item_id in conn.execute(
                f"SELECT content_hash, max(id) FROM items WHERE hash_key IN ({','.join('?' * len(part))}) "
                "AND created_at >= ? GROUP BY content_hash",
                (*part, now - self.dedupe_window_s),
            ):
                if content_hash in wanted:
                    found[content_hash] = item_id
        return found

    def add_items(
        self,
        items: Sequence[NewItem],
        *,
        source: str,
        client: str,
        now: float,
        source_name: str | None = None,
    ) -> AddResult:
        """Add items all-or-nothing; duplicates (within the window) are recorded, not added."""
        result = AddResult()
        with self._tx() as conn:
            self._add_into(conn, items, source, client, now, source_name, None, result)
        return result

    def add_item_groups(
        self,
        groups: Sequence[tuple[Sequence[NewItem], str, str | None]],
        *,
        source: str,
        now: float,
    ) -> list[AddResult]:
        """Several callers' items in one durable transaction (group commit): (items, client, name)."""
        results = [AddResult() for _ in groups]
        with self._tx() as conn:
            for (items, client, name), result in zip(groups, results):
                self._add_into(conn, items, source, client, now, name, None, result)
        return results

    def _add_into(
        self,
        conn: sqlite3.Connection,
        items: Iterable[NewItem],
        source: str,
        client: str,
        now: float,
        source_name: str | None,
        file_id: int | None,
        result: AddResult,
    ) -> None:
        # A duplicate lookup and multi-row inserts a chunk of items, with the ids given here (this
        # transaction is the only writer): three statements a chunk, not three an item. Chunks keep
        # memory bounded (a large post's items are already in memory once); a later chunk's lookup
        # sees the earlier chunks' rows, as they are in this transaction.
        groups: dict[tuple[str, int | None], str] = {}
        chunk: list[NewItem] = []
        chars = 0
        for item in items:
            chunk.append(item)
            chars += len(item.payload) + (len(item.wire) if item.wire else 0)
            if len(chunk) == ADD_CHUNK or chars >= ADD_CHUNK_CHARS:
                chars = 0
                add_chunk(self, conn, chunk, source, client, now, source_name, file_id, result, groups)
                chunk = []
        if chunk:
            add_chunk(self, conn, chunk, source, client, now, source_name, file_id, result, groups)

    # -- files ------------------------------------------------------------------------------

    def known_file(self, file_hash: str, name: str) -> FileRecord | None:
        """The ledger entry for this exact file (same content, same name), if it was met before."""
        with self.db.lock:
            return self._ledger_entry(self.db.conn, file_hash, name)

    @staticmethod
    def _ledger_entry(conn: sqlite3.Connection, file_hash: str, name: str) -> FileRecord | None:
        row = conn.execute(
            f"SELECT {Queries.FILE_COLUMNS} FROM files WHERE file_hash = ? AND name = ?", (file_hash, name)
        ).fetchone()
        return FileRecord(*row) if row else None

    def file_transaction(
        self,
        *,
        name: str,
        path: str | None,
        file_hash: str,
        size: int,
        source: str,
        client: str,
        columns: tuple[str, ...] | None,
        now: float,
        kind: str = "row",
    ) -> FileTransaction:
        return FileTransaction(self, name=name, path=path, file_hash=file_hash, size=size, source=source,
                               client=client, columns=columns, now=now, kind=kind)

    def record_rejected_file(
        self, *, name: str, path: str | None, file_hash: str, size: int, source: str, reason: str, now: float
    ) -> FileRecord:
        with self.db.transaction() as conn:
            existing = self._ledger_entry(conn, file_hash, name)
            if existing:
                return existing
            cur = conn.execute(
                "INSERT INTO files (name, path, file_hash, size, source, outcome, reason, created_at) "
                "VALUES (?, ?, ?, ?, ?, 'rejected', ?, ?)",
                (name, path, file_hash, size, source, reason, now),
            )
            row = conn.execute(f"SELECT {Queries.FILE_COLUMNS} FROM files WHERE id = ?", (cur.lastrowid,)).fetchone()
        return FileRecord(*row)

    def set_file_moved(self, file_id: int, moved_to: str) -> None:
        with self.db.transaction() as conn:
            conn.execute("UPDATE files SET moved_to = ? WHERE id = ?", (moved_to, file_id))

    # -- person-initiated actions -------------------------------------------------------------

    def retry(
        self, ids: Sequence[int] = (), *, state: str | None = None, now: float, actor: str = "person"
    ) -> list[int]:
        """Failed, dead or discarded items back to pending. Explicit ids in another state raise.
        Items of a parked batch go back together (the same batch is sent again). Returns every id
        that went back."""
        if state not in (None, *WAITING_FOR_A_PERSON):
            raise IllegalTransition(f"only failed, dead or discarded items can be retried, not {state}")
        with self.db.transaction() as conn:
            if state is not None:
                targets = [r[0] for r in conn.execute("SELECT id FROM items WHERE state = ? ORDER BY id", (state,))]
            else:
                targets = self._check_states(conn, ids, WAITING_FOR_A_PERSON, "retried")
            targets, parked = self._with_batch_mates(conn, targets, ("dead", "discarded"))
            for batch_id in parked:  # sent before: the same batch, same key, goes again
                conn.execute("UPDATE items SET state = 'pending', next_attempt_at = ?, updated_at = ?, "
                             "last_error = NULL WHERE batch_id = ? AND state IN ('dead', 'discarded')",
                             (now, now, batch_id))
                # Its items read their last answer from the batch (schema 4): cleared, as on the items.
                conn.execute("UPDATE batches SET next_attempt_at = ?, updated_at = ?, last_error = NULL, "
                             "last_status = NULL WHERE id = ?", (now, now, batch_id))
            conn.executemany(
                "UPDATE items SET state = 'pending', batch_id = NULL, next_attempt_at = ?, updated_at = ?, "
                "last_error = NULL WHERE id = ? AND state IN ('failed', 'dead', 'discarded')",
                [(now, now, item_id) for item_id in targets],
            )
            self._audit_items(conn, "retry", targets, now, actor)
        log.info("retry: %d item(s) back to pending", len(targets))
        return targets

    def discard(self, ids: Sequence[int], *, now: float, actor: str = "person", reason: str | None = None) -> list[int]:
        """A person decides failed or dead items are not to be sent (a test record, a result the lab
        sends again corrected). Nothing is deleted: the items keep their content and history, leave
        the lists that ask for attention, and a retry brings them back. Items that travelled in a
        batch with an unknown outcome are discarded with the rest of that batch, which keeps its key.
        Returns the ids discarded."""
        with self.db.transaction() as conn:
            targets = self._check_states(conn, ids, ("failed", "dead"), "discarded")
            targets, _ = self._with_batch_mates(conn, targets, ("dead",))
            conn.executemany("UPDATE items SET state = 'discarded', updated_at = ? WHERE id = ? "
                             "AND state IN ('failed', 'dead')", [(now, item_id) for item_id in targets])
            self._audit_items(conn, "discard", targets, now, actor, reason)
        log.info("discard: %d item(s) set aside by a person", len(targets))
        return targets

    @staticmethod
    def _with_batch_mates(conn: sqlite3.Connection, ids: list[int], states: tuple[str, ...]) -> tuple[list[int], set[int]]:
        """``ids`` and, after them, the items in ``states`` of the parked batches (sent before,
        outcome unknown, still open) that these items are bound to; and those batches."""
        parked: set[int] = set()
        for start in range(0, len(ids), 500):  # "retry --dead" may name tens of thousands
            part = ids[start:start + 500]
            parked.update(row[0] for row in conn.execute(
                f"SELECT DISTINCT i.batch_id FROM items i JOIN batches b ON b.id = i.batch_id "
                f"WHERE i.id IN ({','.join('?' * len(part))}) AND b.state = 'open'", part))
        if not parked:
            return ids, parked
        chosen = set(ids)
        mates = [r[0] for batch_id in sorted(parked) for r in conn.execute(
            f"SELECT id FROM items WHERE batch_id = ? AND state IN ({','.join('?' * len(states))}) ORDER BY id",
            (batch_id, *states)) if r[0] not in chosen]
        return ids + mates, parked

    def resend(self, ids: Sequence[int], *, now: float, actor: str = "person") -> list[int]:
        """Sent items back to pending on purpose, past duplicate suppression."""
        with self.db.transaction() as conn:
            targets = self._check_states(conn, ids, ("sent",), "resent")
            for item_id in targets:
                row = conn.execute("SELECT purged_at IS NOT NULL FROM items WHERE id = ?", (item_id,)).fetchone()
                if row[0]:
                    raise IllegalTransition(
                        f"item {item_id} cannot be resent: its content was removed after the retention period"
                    )
            conn.executemany(
                "UPDATE items SET state = 'pending', batch_id = NULL, forced = 1, next_attempt_at = ?, "
                "updated_at = ?, receipt = NULL, sent_at = NULL WHERE id = ?",
                [(now, now, item_id) for item_id in targets],
            )
            self._audit_items(conn, "resend", targets, now, actor)
        log.info("resend: %d item(s) queued again on purpose", len(targets))
        return targets

    @staticmethod
    def _audit_items(conn: sqlite3.Connection, action: str, ids: Sequence[int], now: float, actor: str,
                     detail: str | None = None) -> None:
        conn.executemany("INSERT INTO audit (at, actor, action, item_id, detail) VALUES (?, ?, ?, ?, ?)",
                         [(now, actor, action, item_id, detail) for item_id in ids])

    @staticmethod
    def _check_states(conn: sqlite3.Connection, ids: Sequence[int], allowed: tuple[str, ...], verb: str) -> list[int]:
        targets: list[int] = []
        for item_id in dict.fromkeys(ids):
            row = conn.execute(f"SELECT {STATE_OF_ITEM} FROM items WHERE id = ?", (item_id,)).fetchone()
            if row is None:
                raise IllegalTransition(f"there is no item {item_id}")
            if row[0] not in allowed:
                raise IllegalTransition(f"item {item_id} is {row[0]}; only {' or '.join(allowed)} items can be {verb}")
            targets.append(item_id)
        return targets

    # -- control values (pause, last success, ...) --------------------------------------------

    # get_control / get_controls are reads: see ``Queries``.

    def set_control(self, values: dict[str, str | None]) -> None:
        with self.db.transaction() as conn:
            for key, value in values.items():
                if value is None:
                    conn.execute("DELETE FROM control WHERE key = ?", (key,))
                else:
                    conn.execute(
                        "INSERT INTO control (key, value) VALUES (?, ?) "
                        "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                        (key, value),
                    )

    def pause_by_intake(self, reason: str, *, probe: bool) -> bool:
        """Record that the intake stopped sending (credentials, retired sender). A person's pause is
        never replaced. Returns True when this is news (not the same pause already recorded)."""
        with self.db.transaction() as conn:
            ctl = dict(conn.execute("SELECT key, value FROM control WHERE key IN (?, ?)",
                                    ("paused_by", "paused_reason")).fetchall())
            if ctl.get("paused_by") == "person" or (ctl.get("paused_by") == "intake"
                                                    and ctl.get("paused_reason") == reason):
                return False
            conn.executemany("INSERT INTO control (key, value) VALUES (?, ?) "
                             "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                             [("paused_by", "intake"), ("paused_reason", reason),
                              ("paused_probe", "1" if probe else "0")])
        return True

    def clear_intake_pause(self, *, now: float) -> bool:
        """Lift what the intake imposed, and only that: its pause, and a Retry-After that has passed.
        A person's pause stays. Returns True when a pause was lifted."""
        with self.db.transaction() as conn:
            ctl = dict(conn.execute("SELECT key, value FROM control WHERE key IN (?, ?)",
                                    ("paused_by", "unavailable_until")).fetchall())
            lifted = ctl.get("paused_by") == "intake"
            if lifted:
                conn.execute("DELETE FROM control WHERE key IN ('paused_by', 'paused_reason', 'paused_probe')")
            until = ctl.get("unavailable_until")
            if until is not None and float(until) <= now:
                conn.execute("DELETE FROM control WHERE key = 'unavailable_until'")
        return lifted

    def audit(self, action: str, *, now: float, actor: str = "person", detail: str | None = None) -> None:
        with self.db.transaction() as conn:
            conn.execute("INSERT INTO audit (at, actor, action, detail) VALUES (?, ?, ?, ?)", (now, actor, action, detail))
