"""Read-only questions asked of the outbox: status, lists, one item's story."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from relay.store.db import Database
from relay.store.held import (
    ATTEMPTS_OF_ITEM,
    LAST_ERROR_OF_ITEM,
    LAST_STATUS_OF_ITEM,
    LEASED_BATCHES,
    NEXT_ATTEMPT_OF_ITEM,
    STATE_OF_ITEM,
    state_of,
)
from relay.store.models import STATES, FileRecord, Item, ItemState
from relay.store.tallies import StateCountCache


PAYLOAD_OF_ITEM = "(SELECT payload FROM payloads WHERE item_id = items.id)"  # a column of a query on items
WIRE_OF_ITEM = "(SELECT wire FROM payloads WHERE item_id = items.id)"


@dataclass(frozen=True, slots=True)
class Counts:
    by_state: dict[str, int]
    duplicates: int
    files_processed: int
    files_rejected: int
    oldest_pending_at: float | None
    last_success_at: float | None
    control: dict[str, str]


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    at: float
    kind: str
    status: int | None
    detail: str | None


class Queries:
    """The read-only questions (``relay.store.roles.OutboxQueries``); a base of ``Outbox`` and of
    ``QueryView``, so both answer them the same way."""

    db: Database
    _columns_by_id: dict[int, tuple[str, ...]]

    ITEM_COLUMNS = (
        f"id, {STATE_OF_ITEM}, source, source_name, line, client, tracking_id, content_hash, column_set_id, "
        f"{PAYLOAD_OF_ITEM}, {ATTEMPTS_OF_ITEM}, {NEXT_ATTEMPT_OF_ITEM}, batch_id, {LAST_STATUS_OF_ITEM}, "
        f"{LAST_ERROR_OF_ITEM}, receipt, created_at, updated_at, sent_at, forced, kind"
    )
    FILE_COLUMNS = (
        "id, name, path, file_hash, outcome, rows_accepted, rows_duplicate, rows_rejected, blank_rows, reason, "
        "moved_to, created_at"
    )

    def columns_of(self, column_set_id: int | None) -> tuple[str, ...] | None:
        if column_set_id is None:
            return None
        cols = self._columns_by_id.get(column_set_id)
        if cols is None:
            with self.db.lock:
                row = self.db.conn.execute("SELECT columns FROM column_sets WHERE id = ?", (column_set_id,)).fetchone()
            cols = tuple(json.loads(row[0]))
            self._columns_by_id[column_set_id] = cols
        return cols

    def get_control(self, key: str) -> str | None:
        with self.db.snapshot() as conn:  # never waits for another thread's commit
            row = conn.execute("SELECT value FROM control WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def get_controls(self, keys: Sequence[str]) -> dict[str, str]:
        """Several control values in one read (absent keys are left out)."""
        with self.db.snapshot() as conn:
            rows = conn.execute(
                f"SELECT key, value FROM control WHERE key IN ({','.join('?' * len(keys))})", list(keys)).fetchall()
        return dict(rows)

    def schema_version(self) -> int:
        """The outbox's schema version (``PRAGMA user_version``)."""
        with self.db.lock:
            return int(self.db.conn.execute("PRAGMA user_version").fetchone()[0])

    def _item(self, row: Sequence[Any]) -> Item:
        return Item(
            id=row[0], state=row[1], source=row[2], source_name=row[3], line=row[4], client=row[5],
            tracking_id=row[6], content_hash=row[7], columns=self.columns_of(row[8]), payload=row[9],
            attempts=row[10], next_attempt_at=row[11], batch_id=row[12], last_status=row[13], last_error=row[14],
            receipt=row[15], created_at=row[16], updated_at=row[17], sent_at=row[18], forced=bool(row[19]), kind=row[20],
        )

    def _load_items(self, conn: sqlite3.Connection, where: str, params: Sequence[object]) -> list[Item]:
        return [self._item(r) for r in conn.execute(f"SELECT {self.ITEM_COLUMNS} FROM items {where}", params)]

    def _state_count_cache(self) -> StateCountCache:
        cache = self.__dict__.get("_state_counts")
        if cache is None:
            cache = self.__dict__["_state_counts"] = StateCountCache()
        return cache

    def get_item(self, item_id: int) -> Item | None:
        with self.db.lock:
            items = self._load_items(self.db.conn, "WHERE id = ?", (item_id,))
        return items[0] if items else None

    @staticmethod
    def _filter(state: str | None, search: str | None) -> tuple[str, list[object]]:
        clauses: list[str] = []
        params: list[object] = []
        if state is not None:
            if state not in STATES:
                raise ValueError(f"unknown state {state!r}; one of {', '.join(STATES)}")
            if state == "sending":
                clauses.append(f"state = 'pending' AND batch_id IN {LEASED_BATCHES}")
            elif state == "pending":
                clauses.append(f"state = 'pending' AND (batch_id IS NULL OR batch_id NOT IN {LEASED_BATCHES})")
            else:
                clauses.append("state = ?")
                params.append(state)
        if search:
            clauses.append("(tracking_id = ? OR source_name = ? OR source_name LIKE ? ESCAPE '\\')")
            escaped = search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            params += [search, search, f"%{escaped}%"]
        return (" WHERE " + " AND ".join(clauses)) if clauses else "", params

    def list_items(self, *, state: str | None = None, limit: int = 50, offset: int = 0,
                   search: str | None = None, before_id: int | None = None) -> list[Item]:
        """Newest first. ``before_id`` pages by key (cheap at any depth, stable while rows arrive)."""
        where, params = self._filter(state, search)
        if before_id is not None:
            where = f"{where} AND id < ?" if where else " WHERE id < ?"
            params.append(before_id)
        with self.db.lock:
            return self._load_items(self.db.conn, f"{where} ORDER BY id DESC LIMIT ? OFFSET ?",
                                    [*params, limit, offset])

    def count_items(self, *, state: str | None = None, search: str | None = None) -> int:
        where, params = self._filter(state, search)
        with self.db.lock:
            return int(self.db.conn.execute(f"SELECT count(*) FROM items{where}", params).fetchone()[0])

    def counts(self) -> Counts:
        with self.db.reading() as conn:
            by_state = self._state_count_cache().counts(conn)
            duplicates = conn.execute("SELECT count(*) FROM duplicates").fetchone()[0]
            files = dict(conn.execute("SELECT outcome, count(*) FROM files GROUP BY outcome").fetchall())
            oldest = conn.execute(
                "SELECT created_at FROM items WHERE id = (SELECT min(id) FROM items WHERE state IN ('pending', 'sending'))"
            ).fetchone()
            control = dict(conn.execute("SELECT key, value FROM control").fetchall())
        last = control.get("last_success_at")
        return Counts(
            by_state=by_state,
            duplicates=duplicates,
            files_processed=files.get("accepted", 0),
            files_rejected=files.get("rejected", 0),
            oldest_pending_at=oldest[0] if oldest else None,
            last_success_at=float(last) if last else None,
            control=control,
        )

    def item_wire(self, item_id: int) -> str | None:
        """The form an item is sent in when it differs from its content (a row's HL7 message), else None."""
        with self.db.lock:
            row = self.db.conn.execute("SELECT wire FROM payloads WHERE item_id = ?", (item_id,)).fetchone()
        return row[0] if row else None

    def history(self, item_id: int) -> list[HistoryEntry]:
        """What happened to one item: arrival, each batch it travelled in, duplicates, person actions."""
        with self.db.reading() as conn:
            row = conn.execute("SELECT created_at, source, source_name, line FROM items WHERE id = ?",
                               (item_id,)).fetchone()
            if row is None:
                return []
            where = f"{row[2]} line {row[3]}" if row[2] and row[3] else (row[2] or row[1])
            out = [HistoryEntry(row[0], "received", None, f"from {row[1]}: {where}")]
            out += [HistoryEntry(*r) for r in conn.execute(
                "SELECT e.at, e.kind, e.status, coalesce(e.detail, '') || ' (batch ' || e.batch_id || ', key ' "
                "|| b.idempotency_key || ')' FROM batch_events e JOIN batch_items bi ON bi.batch_id = e.batch_id "
                "JOIN batches b ON b.id = e.batch_id WHERE bi.item_id = ?", (item_id,))]
            out += [HistoryEntry(r[0], r[1], None, f"by {r[2]}" + (f": {r[3]}" if r[3] else "")) for r in conn.execute(
                "SELECT at, action, actor, detail FROM audit WHERE item_id = ?", (item_id,))]
            out += [HistoryEntry(r[0], "duplicate skipped", None, f"same content again from {r[1]}") for r in
                    conn.execute("SELECT seen_at, coalesce(source_name, source) FROM duplicates "
                                 "WHERE original_item_id = ?", (item_id,))]
        return sorted(out, key=lambda h: h.at)

    def list_files(self, *, limit: int = 50, offset: int = 0, search: str | None = None) -> list[FileRecord]:
        with self.db.lock:
            if search:
                rows = self.db.conn.execute(
                    f"SELECT {self.FILE_COLUMNS} FROM files WHERE name LIKE ? ORDER BY id DESC LIMIT ? OFFSET ?",
                    (f"%{search}%", limit, offset)).fetchall()
            else:
                rows = self.db.conn.execute(
                    f"SELECT {self.FILE_COLUMNS} FROM files ORDER BY id DESC LIMIT ? OFFSET ?", (limit, offset)
                ).fetchall()
        return [FileRecord(*r) for r in rows]

    def count_files(self, *, search: str | None = None) -> int:
        with self.db.lock:
            if search:
                return int(self.db.conn.execute("SELECT count(*) FROM files WHERE name LIKE ?",
                                                (f"%{search}%",)).fetchone()[0])
            return int(self.db.conn.execute("SELECT count(*) FROM files").fetchone()[0])

    def count_duplicates(self, *, search: str | None = None) -> int:
        where, params = self._duplicate_filter(search)
        with self.db.lock:
            return int(self.db.conn.execute(f"SELECT count(*) FROM duplicates d{where}", params).fetchone()[0])

    @staticmethod
    def _duplicate_filter(search: str | None) -> tuple[str, list[object]]:
        if not search:
            return "", []
        return " WHERE (d.tracking_id = ? OR d.source_name LIKE ?)", [search, f"%{search}%"]

    def list_duplicates(self, *, limit: int = 50, offset: int = 0,
                        search: str | None = None) -> list[dict[str, Any]]:
        where, params = self._duplicate_filter(search)
        with self.db.lock:
            cur = self.db.conn.execute(
                "SELECT d.id, d.seen_at, d.source, d.source_name, d.line, d.tracking_id, d.original_item_id, "
                f"{state_of('i')} AS original_state, i.source_name AS original_source_name FROM duplicates d "
                f"LEFT JOIN items i ON i.id = d.original_item_id{where} ORDER BY d.id DESC LIMIT ? OFFSET ?",
                (*params, limit, offset))
            names = [c[0] for c in cur.description]
            return [dict(zip(names, r)) for r in cur.fetchall()]

    def next_due_at(self) -> float | None:
        """When the next waiting batch or item becomes due (for an idle sender's sleep)."""
        with self.db.lock:
            row = self.db.conn.execute(
                "SELECT min(t) FROM ("
                "SELECT min(next_attempt_at) AS t FROM batches WHERE state = 'open' AND lease_until IS NULL "
                "AND next_attempt_at < 1e299 "
                "UNION ALL SELECT min(next_attempt_at) FROM items WHERE state = 'pending' AND batch_id IS NULL)"
            ).fetchone()
        return row[0] if row and row[0] is not None else None

    def tracking_ids(self, item_ids: Sequence[int]) -> list[str | None]:
        with self.db.lock:
            found = dict(self.db.conn.execute(
                f"SELECT id, tracking_id FROM items WHERE id IN ({','.join('?' * len(item_ids))})", list(item_ids)
            ).fetchall())
        return [found.get(i) for i in item_ids]
