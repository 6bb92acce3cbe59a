"""One file's rows into the outbox in one transaction, in chunks.

Each chunk is checked for duplicates in the reading thread and then written by a helper thread,
with multi-row INSERTs, while the next chunk is read: SQLite releases the GIL while it works.
Also the row-insert statements the rest of the outbox shares.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from itertools import chain
from types import TracebackType
from typing import Protocol

from relay.errors import IllegalTransition
from relay.store.models import AddResult, FileRecord, NewItem

CHUNK = 1000  # rows of a file checked for duplicates and written together (one statement a table)
CHUNK_CHARS = 16 * 1024 * 1024  # ...or fewer rows when they are this large together (memory stays bounded)
ROWS_PER_STATEMENT = 1000  # rows in one multi-row INSERT (fewer if SQLite allows fewer variables)

ITEM_INSERT_HEAD = (
    "INSERT INTO items (id, state, source, source_name, file_id, line, client, tracking_id, content_hash, "
    "column_set_id, group_key, next_attempt_at, created_at, updated_at, kind, hash_key) VALUES "
)
ITEM_VALUES = "(?, 'pending', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
PAYLOAD_INSERT_HEAD = "INSERT INTO payloads (item_id, payload, wire) VALUES "
PAYLOAD_VALUES = "(?, ?, ?)"

# The parameters of one row of each insert.
ItemRow = tuple[int | None, str, str | None, int | None, int | None, str, str | None, str, int | None, str, float,
                float, float, str, int]
PayloadRow = tuple[int, str, str | None]
DuplicateRow = tuple[str, int, str, str | None, int | None, int | None, str | None, float]

INSERT_DUPLICATE = (
    "INSERT INTO duplicates (content_hash, original_item_id, source, source_name, file_id, line, tracking_id, seen_at) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
)


class TransactionHost(Protocol):
    """What a file transaction needs of the store that opens it (``Outbox``): its write transaction
    (which keeps the column-set cache true), the file ledger, column sets and the duplicate check.
    Named here so this module does not import the outbox (which imports it)."""

    dedupe_window_s: float

    def _tx(self) -> AbstractContextManager[sqlite3.Connection]: ...

    def _ledger_entry(self, conn: sqlite3.Connection, file_hash: str, name: str) -> FileRecord | None: ...

    def known_file(self, file_hash: str, name: str) -> FileRecord | None: ...

    def _column_set_id(self, conn: sqlite3.Connection, columns: tuple[str, ...]) -> int: ...

    def _originals(self, conn: sqlite3.Connection, hashes: Sequence[str], now: float,
                   keys: Sequence[int] | None = None) -> dict[str, int]: ...


_HEX = "0123456789abcdef"


def hash_key(content_hash: str) -> int:
    """The first 15 hex digits of a content hash as an integer: the duplicate index's key (schema 4,
    which computes the same for older rows in SQL, so any other text maps the same way there too)."""
    if not isinstance(content_hash, str):  # the insert refuses it (NOT NULL), in a plain error
        return 0
    head = content_hash[:15]
    if len(head) == 15 and not head.strip(_HEX):  # a SHA-256 hex digest, as every relay hash is: the fast way
        return int(head, 16)
    try:
        value = int(head, 16)
    except ValueError:
        value = -1
    if value >= 0 and "%015x" % value == head:  # 15 lowercase hex digits (int() also takes "0x", "_", ...)
        return value
    return sum((_HEX.find(head[i:i + 1])) * 16 ** (14 - i) for i in range(15))


class FileTransaction:
    """All of one file's rows in one transaction: ``with outbox.file_transaction(...) as tx``.

    Leaving the block normally commits durably; an exception rolls everything back. The transaction
    itself begins with the first chunk's write (or at the end of a file smaller than a chunk), so a
    file's first chunk is read, parsed and hashed with the outbox free for others; the file ledger
    is looked at on entering (``already_known``) and again when the transaction begins.
    """

    def __init__(self, outbox: TransactionHost, *, name: str, path: str | None, file_hash: str, size: int, source: str,
                 client: str, columns: tuple[str, ...] | None, now: float, kind: str = "row") -> None:
        self._outbox = outbox
        self._meta = (name, path, file_hash, size, source)
        self._client = client
        self._columns = columns
        self._kind = kind  # 'row' (columns given) or 'hl7' (one message an item, no column set)
        self._now = now
        self._tx = outbox._tx()
        self._conn: sqlite3.Connection | None = None  # once the transaction has begun
        self._taken_meanwhile = False  # the file entered the ledger between the look and the begin
        self.accepted = 0
        self.duplicates = 0
        self.rows_rejected = 0
        self.blank_rows = 0
        self.file_id = 0
        self.already_known: FileRecord | None = None
        self._pending: list[tuple[int, str, str | None, str, str | None]] = []
        self._pending_chars = 0
        self._writer = ChunkWriter()

    def __enter__(self) -> FileTransaction:
        name, _, file_hash, _, _ = self._meta
        existing = self._outbox.known_file(file_hash, name)  # a look: looked at again when the transaction begins
        if existing:
            self.already_known = existing
            self.file_id = existing.id
        return self

    def _ensure_begun(self) -> sqlite3.Connection:
        if self._conn is not None:
            return self._conn
        conn = self._tx.__enter__()
        try:
            self._begin(conn)
        except BaseException as exc:  # roll back now (translated), not whenever the generator is collected
            self._tx.__exit__(type(exc), exc, exc.__traceback__)
            raise
        self._conn = conn
        if self.already_known is not None:  # another run took this very file since the look: add nothing
            self._taken_meanwhile = True
            self._pending, self._pending_chars = [], 0
        return conn

    def _begin(self, conn: sqlite3.Connection) -> FileTransaction:
        name, path, file_hash, size, source = self._meta
        existing = self._outbox._ledger_entry(conn, file_hash, name)
        if existing:
            self.already_known = existing
            self.file_id = existing.id
            return self
        cur = conn.execute(
            "INSERT INTO files (name, path, file_hash, size, source, outcome, created_at) "
            "VALUES (?, ?, ?, ?, ?, 'accepted', ?)",
            (name, path, file_hash, size, source, self._now),
        )
        assert cur.lastrowid is not None
        self.file_id = cur.lastrowid
        self._cs_id = self._outbox._column_set_id(conn, self._columns) if self._columns is not None else None
        # Ids are given here (this transaction is the only writer), so that a chunk's items and their
        # payloads can each go in as multi-row inserts.
        self._next_id = conn.execute("SELECT coalesce(max(id), 0) + 1 FROM items").fetchone()[0]
        self._group = group_key(self._client, self._kind, self._cs_id, name)
        return self

    def add(self, line: int, values_json: str, tracking_id: str | None, content_hash: str,
            wire: str | None = None) -> None:
        """One row (``wire``: its form on the wire, when that differs). Rows are written in chunks;
        duplicates are recorded, not added."""
        if self._taken_meanwhile:
            return
        if self.already_known is not None:
            raise IllegalTransition("this file is already in the ledger; nothing may be added again")
        self._pending.append((line, values_json, tracking_id, content_hash, wire))
        self._pending_chars += len(values_json) + (len(wire) if wire else 0)
        if len(self._pending) >= CHUNK or self._pending_chars >= CHUNK_CHARS:
            self._flush()  # the transaction begins here, with the first chunk

    def _flush(self, *, last: bool = False) -> None:
        """Check the buffered rows for duplicates and write them. A full chunk is written by a
        helper thread while the next one is read; the last one is written here. Either way it is
        inside the file's one transaction: nothing is committed before the end."""
        rows, self._pending, self._pending_chars = self._pending, [], 0
        self._writer.wait()  # the previous chunk is in: its rows count in the duplicate check
        if not rows:
            return
        conn, now = self._ensure_begun(), self._now
        name, _, _, _, source = self._meta
        hashes = [r[3] for r in rows]
        keys = [hash_key(h) for h in hashes]  # once a row: for the duplicate lookup and the insert
        known = self._outbox._originals(conn, hashes, now, keys)
        inserts: list[ItemRow] = []
        payloads: list[PayloadRow] = []
        dups: list[DuplicateRow] = []
        item_id = self._next_id
        for (line, payload, tracking_id, content_hash, wire), key in zip(rows, keys):
            original = known.get(content_hash)
            if original is not None:
                dups.append((content_hash, original, source, name, self.file_id, line, tracking_id, now))
                continue
            if self._outbox.dedupe_window_s > 0:
                known[content_hash] = item_id  # a second copy inside this chunk
            inserts.append((item_id, source, name, self.file_id, line, self._client, tracking_id, content_hash,
                            self._cs_id, self._group, now, now, now, self._kind, key))
            payloads.append((item_id, payload, wire))
            item_id += 1
        self._next_id = item_id
        self.accepted += len(inserts)
        self.duplicates += len(dups)
        if last:
            self._write(inserts, payloads, dups)
        else:
            self._writer.start(lambda: self._write(inserts, payloads, dups))

    def _write(self, inserts: list[ItemRow], payloads: list[PayloadRow], dups: list[DuplicateRow]) -> None:
        conn = self._conn
        assert conn is not None
        if inserts:
            insert_items(conn, inserts, payloads)
        if dups:
            conn.executemany(INSERT_DUPLICATE, dups)

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> bool | None:
        if exc_type is None and (self.already_known is None or self._conn is not None):
            try:
                conn = self._ensure_begun()
                if not self._taken_meanwhile:
                    self._flush(last=True)
                    conn.execute(
                        "UPDATE files SET rows_accepted = ?, rows_duplicate = ?, rows_rejected = ?, blank_rows = ? "
                        "WHERE id = ?",
                        (self.accepted, self.duplicates, self.rows_rejected, self.blank_rows, self.file_id),
                    )
            except BaseException as flush_exc:
                late = self._writer.abandon()
                if self._conn is not None:
                    self._tx.__exit__(type(flush_exc), flush_exc, flush_exc.__traceback__)
                if late is not None:
                    raise late from flush_exc
                raise
        elif self._conn is None:  # nothing begun: nothing to roll back
            return None
        else:
            late = self._writer.abandon()  # a write still running must end before the rollback
            result = self._tx.__exit__(exc_type, exc, tb)
            if late is not None:
                raise late
            return result
        return self._tx.__exit__(exc_type, exc, tb)


def add_chunk(outbox: TransactionHost, conn: sqlite3.Connection, items: Sequence[NewItem], source: str, client: str,
          now: float, source_name: str | None, file_id: int | None, result: AddResult,
          groups: dict[tuple[str, int | None], str]) -> None:
    """Items offered together (``Outbox.add_items``, the listener's group commit): one duplicate
    lookup, then items and payloads in multi-row inserts with their ids given here. ``groups``
    caches group keys by (kind, column set) across a caller's chunks."""
    known = outbox._originals(conn, [item.content_hash for item in items], now)
    dedupe = outbox.dedupe_window_s > 0
    next_id = conn.execute("SELECT coalesce(max(id), 0) + 1 FROM items").fetchone()[0]
    rows: list[ItemRow] = []
    payloads: list[PayloadRow] = []
    dups: list[DuplicateRow] = []
    for item in items:
        original = known.get(item.content_hash)
        if original is not None:
            dups.append((item.content_hash, original, source, source_name, file_id, item.line, item.tracking_id,
                         now))
            result.ids.append(original)
            result.duplicate.append(True)
            continue
        cs_id = outbox._column_set_id(conn, item.columns) if item.columns is not None else None
        kind = item.kind or ("row" if item.columns is not None else "json")
        group = groups.get((kind, cs_id))
        if group is None:
            group = groups[(kind, cs_id)] = group_key(client, kind, cs_id, source_name)
        rows.append((next_id, source, source_name, file_id, item.line, client, item.tracking_id,
                     item.content_hash, cs_id, group, now, now, now, kind, hash_key(item.content_hash)))
        payloads.append((next_id, item.payload, item.wire))
        if dedupe:
            known[item.content_hash] = next_id  # a second copy in the same chunk
        result.ids.append(next_id)
        result.duplicate.append(False)
        next_id += 1
    if rows:
        insert_items(conn, rows, payloads)
    if dups:
        conn.executemany(INSERT_DUPLICATE, dups)


def group_key(client: str, kind: str, column_set_id: int | None, source_name: str | None) -> str:
    """Items of one group may share a batch: same client, kind, columns and file. A group holds
    one kind, so a batch never mixes kinds (HL7 messages never travel with CSV rows or JSON)."""
    if kind == "row" and column_set_id is not None:
        return f"{client}|{column_set_id}|{source_name or ''}"
    return f"{client}|{kind}|{source_name or ''}"


def insert_items(conn: sqlite3.Connection, rows: Sequence[ItemRow], payloads: Sequence[PayloadRow]) -> None:
    """Items (with their ids given) and their payloads, many rows per statement."""
    insert_many(conn, ITEM_INSERT_HEAD, ITEM_VALUES, rows)
    insert_many(conn, PAYLOAD_INSERT_HEAD, PAYLOAD_VALUES, payloads)


def insert_many(conn: sqlite3.Connection, head: str, values: str, rows: Sequence[tuple[object, ...]]) -> None:
    """``head`` + ``values`` for each row, as few statements as SQLite's variable limit allows."""
    per = max(1, min(ROWS_PER_STATEMENT, conn.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER) // values.count("?")))
    whole = len(rows) - len(rows) % per
    if whole:
        sql = head + ",".join([values] * per)
        for start in range(0, whole, per):
            conn.execute(sql, list(chain.from_iterable(rows[start:start + per])))
    if whole < len(rows):  # one statement too (executemany would step once a row)
        conn.execute(head + ",".join([values] * (len(rows) - whole)), list(chain.from_iterable(rows[whole:])))


class ChunkWriter:
    """Runs one write at a time on the transaction's connection in a helper thread.

    SQLite gives up the GIL while it works, so the file's next chunk is read, parsed and hashed
    meanwhile (a multi-row INSERT gives it up once per statement; executemany would take it back
    after every row, and the two threads would queue for it). The owner of the transaction waits
    for the write before it uses the connection again, and always before commit or rollback.
    """

    def __init__(self) -> None:
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None

    def start(self, write: Callable[[], None]) -> None:
        self.wait()

        def run() -> None:
            try:
                write()
            except BaseException as exc:  # handed to the owner by wait()
                self._error = exc

        self._thread = threading.Thread(target=run, name="relay-chunk-writer", daemon=True)
        self._thread.start()

    def wait(self) -> None:
        """Until the running write is done; its error, if any, is raised here."""
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        if self._error is not None:
            error, self._error = self._error, None
            raise error

    def abandon(self) -> BaseException | None:
        """Until the running write is done, its outcome ignored (the transaction is rolled back).

        It waits even through a second Ctrl-C or SIGTERM: a rollback while the helper thread still
        writes would leave its remaining rows outside any transaction. Such an interruption is
        returned, for the caller to raise once it has rolled back."""
        interrupted: BaseException | None = None
        while self._thread is not None:
            try:
                self._thread.join()
                self._thread = None
            except BaseException as exc:
                interrupted = exc
        self._error = None
        return interrupted
