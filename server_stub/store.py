"""The stub's SQLite database: submissions (with their bodies), items, idempotent answers, counters.

``Store`` is synchronous and owned by one thread; ``StoreWorker`` runs it on a dedicated thread so
the event loop never blocks on SQLite. Every request's writes are one transaction (WAL,
synchronous=NORMAL: a killed process loses nothing that was committed).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import sqlite3
import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from server_stub.payload import Item

log = logging.getLogger("server_stub.store")

SCHEMA_VERSION = 2

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS submissions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    report_id TEXT NOT NULL,
    client TEXT NOT NULL,
    content_type TEXT NOT NULL,
    payload_name TEXT,
    idempotency_key TEXT,
    received_at REAL NOT NULL,
    item_count INTEGER NOT NULL,
    duplicate_count INTEGER NOT NULL,
    body BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS items (
    id INTEGER PRIMARY KEY,
    submission_id INTEGER NOT NULL REFERENCES submissions (id),
    idx INTEGER NOT NULL,
    content_hash TEXT NOT NULL,
    tracking_id TEXT,
    duplicate INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS answers (
    key TEXT PRIMARY KEY,
    fingerprint TEXT NOT NULL,
    status INTEGER NOT NULL,
    body TEXT NOT NULL,
    created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS client_items (client TEXT PRIMARY KEY, items INTEGER NOT NULL) WITHOUT ROWID;
"""

_BUMP = "INSERT INTO counters (name, value) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET value = value + excluded.value"

T = TypeVar("T")


@dataclass(frozen=True)
class StoredAnswer:
    fingerprint: str
    status: int
    body: str


@dataclass(frozen=True)
class Submission:
    """What the stub is about to store; ``respond`` builds the answer inside the transaction."""

    report_id: str
    client: str
    content_type: str
    payload_name: str | None
    idempotency_key: str | None
    fingerprint: str | None
    received_at: float
    items: Sequence[Item]
    reject_duplicates: bool
    body: bytes  # kept whole: an item's row is read back from it (far cheaper than a row per item)


@dataclass(frozen=True)
class SubmitOutcome:
    stored: bool  # False: every item was a duplicate and duplicates are refused
    submission_id: int | None
    duplicate_indices: tuple[int, ...]  # 1-based indices of items whose content was stored before


class StoreError(Exception):
    """The database cannot be used (wrong schema version, unreadable file)."""


class Store:
    """Synchronous access to the database; use it from one thread only."""

    def __init__(self, path: str | Path) -> None:
        try:
            self._conn = sqlite3.connect(str(path), isolation_level=None)
        except sqlite3.Error as exc:
            raise StoreError(f"{path}: cannot open the database: {exc}") from exc
        try:
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=NORMAL")
            self._conn.execute("PRAGMA busy_timeout=5000")
            self._conn.execute("PRAGMA cache_size=-65536")  # 64 MB: the hash index is written at random
            # Checkpoints (which fsync) run on their own thread, see Checkpointer, not in requests.
            self._conn.execute("PRAGMA wal_autocheckpoint=0")
            with self._transaction():
                for statement in filter(str.strip, _SCHEMA.split(";")):
                    self._conn.execute(statement)
                row = self._conn.execute("SELECT value FROM meta WHERE name = 'schema_version'").fetchone()
                if row is None:
                    self._conn.execute("INSERT INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
                elif row[0] != str(SCHEMA_VERSION):
                    raise StoreError(f"{path}: schema version {row[0]}, this stub knows {SCHEMA_VERSION}")
            # The content hashes received so far, in memory (~100 bytes each): an index over random
            # hashes in SQLite would rewrite a page per item on every commit.
            self._known: set[bytes] = {
                bytes.fromhex(h) for (h,) in self._conn.execute("SELECT content_hash FROM items")
            }
        except sqlite3.Error as exc:
            self._conn.close()
            raise StoreError(f"{path}: cannot use the database: {exc}") from exc
        except StoreError:
            self._conn.close()
            raise

    def close(self) -> None:
        """Fold the WAL into the database file and close."""
        try:
            self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
        except sqlite3.Error as exc:
            log.warning("final checkpoint failed: %s", exc)
        self._conn.close()

    def _transaction(self) -> _Transaction:
        return _Transaction(self._conn)

    # --- writes ---------------------------------------------------------------------------------

    def submit(self, sub: Submission, respond: Callable[[SubmitOutcome], tuple[int, str]]) -> tuple[int, str]:
        """Store a valid batch (or refuse it when all are duplicates), record the answer for the
        idempotency key, all in one transaction. Returns the answer (status, JSON body)."""
        digests = [bytes.fromhex(item.content_hash) for item in sub.items]
        added: set[bytes] = set()
        with self._transaction():
            if sub.reject_duplicates and digests and all(d in self._known for d in digests):
                self._bump({"duplicates_received": len(digests)})
                outcome = SubmitOutcome(False, None, tuple(i.position for i in sub.items))
            else:
                outcome = self._insert(sub, digests, added)
            status, body = respond(outcome)
            if sub.idempotency_key is not None and sub.fingerprint is not None:
                self._save_answer(sub.idempotency_key, sub.fingerprint, status, body, sub.received_at)
        self._known |= added  # only once committed
        return status, body

    def _insert(self, sub: Submission, digests: Sequence[bytes], added: set[bytes]) -> SubmitOutcome:
        conn = self._conn
        cur = conn.execute(
            "INSERT INTO submissions (report_id, client, content_type, payload_name, idempotency_key,"
            " received_at, item_count, duplicate_count, body) VALUES (?, ?, ?, ?, ?, ?, ?, 0, ?)",
            (sub.report_id, sub.client, sub.content_type, sub.payload_name, sub.idempotency_key,
             sub.received_at, len(sub.items), sub.body),
        )
        submission_id = int(cur.lastrowid or 0)
        known = self._known
        duplicates: list[int] = []
        rows = []
        for item, digest in zip(sub.items, digests):
            # A duplicate: the same content was stored before, earlier in this request included.
            seen = digest in known or digest in added
            if seen:
                duplicates.append(item.position)
            else:
                added.add(digest)
            rows.append((submission_id, item.position, item.content_hash, item.tracking_id, int(seen)))
        conn.executemany(
            "INSERT INTO items (submission_id, idx, content_hash, tracking_id, duplicate) VALUES (?, ?, ?, ?, ?)",
            rows,
        )
        if duplicates:
            conn.execute("UPDATE submissions SET duplicate_count = ? WHERE id = ?", (len(duplicates), submission_id))
        self._bump({
            "submissions": 1,
            "accepted_items": len(sub.items),
            "unique_items": len(added),
            "duplicates_received": len(duplicates),
        })
        conn.execute(
            "INSERT INTO client_items VALUES (?, ?) ON CONFLICT (client) DO UPDATE SET items = items + excluded.items",
            (sub.client, len(sub.items)),
        )
        return SubmitOutcome(True, submission_id, tuple(duplicates))

    def save_answer(self, key: str, fingerprint: str, status: int, body: str, at: float) -> None:
        """Record a final answer that stored nothing (a rejection) for an idempotency key."""
        with self._transaction():
            self._save_answer(key, fingerprint, status, body, at)

    def _save_answer(self, key: str, fingerprint: str, status: int, body: str, at: float) -> None:
        cur = self._conn.execute(
            "INSERT INTO answers (key, fingerprint, status, body, created_at) VALUES (?, ?, ?, ?, ?)"
            " ON CONFLICT (key) DO NOTHING",
            (key, fingerprint, status, body, at),
        )
        if cur.rowcount == 1:
            self._bump({"idempotency_keys": 1})

    def count_request(self, counters: Mapping[str, int]) -> None:
        with self._transaction():
            self._bump(counters)

    def _bump(self, counters: Mapping[str, int]) -> None:
        self._conn.executemany(_BUMP, [(k, v) for k, v in counters.items() if v])

    # --- reads ----------------------------------------------------------------------------------

    def answer(self, key: str) -> StoredAnswer | None:
        row = self._conn.execute("SELECT fingerprint, status, body FROM answers WHERE key = ?", (key,)).fetchone()
        return None if row is None else StoredAnswer(row[0], int(row[1]), row[2])

    def counters(self) -> dict[str, int]:
        return {name: int(value) for name, value in self._conn.execute("SELECT name, value FROM counters")}

    def items_by_client(self) -> dict[str, int]:
        return {c: int(n) for c, n in self._conn.execute("SELECT client, items FROM client_items ORDER BY client")}

    def items(
        self, offset: int, limit: int, *, tracking_id: str | None = None, submission_id: int | None = None
    ) -> tuple[int, list[dict[str, Any]], dict[int, tuple[str, bytes]]]:
        """A page of stored items, oldest first; the total matching; and the bodies (content type,
        bytes) of the submissions they came in, by submission id, to read their rows from."""
        where: list[str] = []
        args: list[Any] = []
        if tracking_id is not None:
            where.append("i.tracking_id = ?")
            args.append(tracking_id)
        if submission_id is not None:
            where.append("i.submission_id = ?")
            args.append(submission_id)
        clause = (" WHERE " + " AND ".join(where)) if where else ""
        if where:
            total = int(self._conn.execute(f"SELECT count(*) FROM items i{clause}", args).fetchone()[0])  # noqa: S608
        else:
            total = self.counters().get("accepted_items", 0)
        rows = self._conn.execute(
            "SELECT i.id, i.submission_id, s.client, i.content_hash, i.tracking_id, s.received_at, i.idx,"
            f" i.duplicate FROM items i JOIN submissions s ON s.id = i.submission_id{clause}"  # noqa: S608
            " ORDER BY i.id LIMIT ? OFFSET ?",
            [*args, limit, offset],
        ).fetchall()
        keys = ("id", "submission_id", "client", "content_hash", "tracking_id", "received_at", "index", "duplicate")
        items = [dict(zip(keys, r)) for r in rows]
        bodies: dict[int, tuple[str, bytes]] = {}
        for sid in sorted({item["submission_id"] for item in items}):
            ctype, body = self._conn.execute("SELECT content_type, body FROM submissions WHERE id = ?", (sid,)).fetchone()
            bodies[sid] = (ctype, bytes(body))
        return total, items, bodies


class _Transaction:
    """BEGIN IMMEDIATE ... COMMIT, or ROLLBACK on error."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def __enter__(self) -> None:
        self._conn.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        self._conn.execute("ROLLBACK" if exc_type is not None else "COMMIT")


class Checkpointer:
    """Copies the WAL back into the database every ``interval`` seconds on a thread of its own, with
    its own connection, so the fsyncs a checkpoint makes never hold up a request."""

    def __init__(self, path: str | Path, interval: float = 1.0) -> None:
        self._path = str(path)
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="stub-checkpoint", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        conn = sqlite3.connect(self._path, isolation_level=None)
        try:
            conn.execute("PRAGMA busy_timeout=5000")
            while not self._stop.wait(self._interval):
                try:
                    conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                except sqlite3.Error as exc:  # a busy database is no reason to stop the stub
                    log.warning("checkpoint failed: %s", exc)
        finally:
            conn.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join()


class StoreWorker:
    """Owns a ``Store`` on a dedicated thread; ``await run(fn, ...)`` calls ``fn(store, ...)`` there."""

    def __init__(self, path: str | Path) -> None:
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="stub-db")
        try:
            self._store = self._executor.submit(Store, path).result()
        except BaseException:
            self._executor.shutdown(wait=True)
            raise
        self._checkpointer = Checkpointer(path) if str(path) != ":memory:" else None

    async def run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, functools.partial(fn, self._store, *args, **kwargs))

    def call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Blocking variant, for start-up and shutdown."""
        return self._executor.submit(fn, self._store, *args, **kwargs).result()

    def close(self) -> None:
        if self._checkpointer is not None:
            self._checkpointer.close()
        self._executor.submit(self._store.close).result()
        self._executor.shutdown(wait=True)
