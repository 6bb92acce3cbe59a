"""Opening the outbox database: durability settings, integrity check, migrations, transactions."""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

from relay.errors import EnvironmentProblem, OutboxDamaged, OutboxFull, OutboxGone
from relay.store.schema import MIGRATIONS

log = logging.getLogger("relay.store")

BUSY_TIMEOUT_MS = 10_000
CACHE_KIB = 8 * 1024
CLEAN_CLOSE = "clean_close"  # control key: '1' once an agent stopped cleanly


def translate(exc: sqlite3.Error, path: Path) -> Exception:
    """Turn a SQLite error into relay's error tree (callers ``raise translate(e) from e``)."""
    text = str(exc).lower()
    if isinstance(exc, sqlite3.OperationalError) and ("disk is full" in text or "database or disk is full" in text):
        return OutboxFull(f"the outbox at {path} cannot grow: the disk is full")
    if "readonly" in text or "read-only" in text:
        return EnvironmentProblem(f"the outbox at {path} is read-only: relay needs to write there")
    if "unable to open" in text:
        return EnvironmentProblem(f"the outbox at {path} cannot be opened: check the folder exists and is writable")
    if isinstance(exc, sqlite3.DatabaseError) and ("malformed" in text or "not a database" in text):
        return OutboxDamaged(f"the outbox at {path} is damaged ({exc}); it has been left as it is")
    return EnvironmentProblem(f"the outbox at {path} failed: {exc}")


MAX_READERS = 8  # threads with a read connection of their own (the sender's); any other reads the shared one


class Database:
    """One SQLite connection shared by the threads of one process, serialised by a lock.

    SQLite allows one writer at a time anyway; readers in other processes (``relay status``) are
    not blocked thanks to WAL.
    """

    def __init__(self, path: Path, *, check: bool | str = True, readonly: bool = False) -> None:
        self.path = path
        self.lock = threading.RLock()
        self._riders: list[tuple[str, tuple[object, ...]]] = []  # see ride_along
        self._side_lock = threading.Lock()  # riders and readers; never self.lock, which a writer holds
        self.readonly = readonly
        self._local = threading.local()  # each thread's own read connection (see snapshot)
        self._readers: list[sqlite3.Connection] = []
        self._writing_thread: int | None = None  # the thread inside transaction(), if any
        self._identity: tuple[int, int] | None = None
        self._gone: str | None = None
        if not readonly:
            self._prepare_file(path)
        try:
            if readonly:
                uri = f"{path.resolve().as_uri()}?mode=ro"
                self.conn = sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False)
            else:
                self.conn = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
                st = os.stat(path)
                self._identity = (st.st_dev, st.st_ino)
            self.conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            if not readonly:
                mode = self.conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
                if mode.lower() != "wal":
                    raise EnvironmentProblem(f"the outbox at {path} cannot use write-ahead logging (got {mode})")
            self.conn.execute("PRAGMA synchronous = FULL")
            self.conn.execute("PRAGMA foreign_keys = ON")
            # A bigger page cache than the 2 MB default for the duplicate-lookup index, still small
            # enough that memory stays flat however large the outbox grows.
            self.conn.execute(f"PRAGMA cache_size = -{CACHE_KIB}")
            if check is True or (check == "auto" and not self._closed_cleanly()):
                self.integrity_check()
            if not readonly:
                self.migrate()
            else:
                self._check_version()
        except sqlite3.Error as exc:
            raise translate(exc, path) from exc

    @staticmethod
    def _prepare_file(path: Path) -> None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            if not path.exists():
                # The outbox holds patient data: only the user may read it.
                fd = os.open(path, os.O_CREAT | os.O_WRONLY, 0o600)
                os.close(fd)
        except OSError as exc:
            raise EnvironmentProblem(f"cannot create the outbox at {path}: {exc.strerror}") from exc

    def _closed_cleanly(self) -> bool:
        """Whether the agent that last wrote here stopped cleanly (then the check, which reads the
        whole file, can be skipped: seconds on a large outbox)."""
        try:
            row = self.conn.execute("SELECT value FROM control WHERE key = ?", (CLEAN_CLOSE,)).fetchone()
        except sqlite3.DatabaseError:  # new, or not a relay outbox: the check tells which
            return False
        return bool(row and row[0] == "1")

    def integrity_check(self) -> None:
        rows = self.conn.execute("PRAGMA quick_check").fetchall()
        if rows != [("ok",)]:
            detail = "; ".join(r[0] for r in rows[:3])
            raise OutboxDamaged(f"the outbox at {self.path} failed its integrity check ({detail}); it has been left as it is")

    def _check_version(self) -> int:
        version: int = self.conn.execute("PRAGMA user_version").fetchone()[0]
        newest = MIGRATIONS[-1][0]
        if version > newest:
            raise EnvironmentProblem(
                f"the outbox at {self.path} was written by a newer relay (schema {version}, this one knows {newest})"
            )
        return version

    def migrate(self) -> None:
        version = self._check_version()
        if version < 2 and sqlite3.sqlite_version_info < (3, 35, 0):  # migration 2 drops a column
            raise EnvironmentProblem(f"relay needs SQLite 3.35 or newer; this Python has {sqlite3.sqlite_version}")
        pending = [m for m in MIGRATIONS if m[0] > version]
        if not pending:
            return
        # A migration may rebuild a table that others refer to: foreign keys are off while it runs
        # (the pragma has no effect inside a transaction) and checked before its commit.
        self.conn.execute("PRAGMA foreign_keys = OFF")
        try:
            for number, name, sql in pending:
                if version:  # an existing outbox: say why the start takes longer (about 30 s a million items)
                    log.info("updating the outbox to schema %d (%s); on a large outbox this takes a while", number, name)
                with self.transaction():
                    self.conn.execute(
                        "CREATE TABLE IF NOT EXISTS schema_migrations "
                        "(version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)"
                    )
                    for statement in _statements(sql):
                        self.conn.execute(statement)
                    broken = self.conn.execute("PRAGMA foreign_key_check").fetchmany(3)
                    if broken:
                        raise EnvironmentProblem(
                            f"the outbox at {self.path} could not be updated to schema {number}: "
                            f"rows refer to rows that do not exist ({broken}); it has been left as it was"
                        )
                    self.conn.execute(
                        "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, datetime('now'))",
                        (number, name),
                    )
                    self.conn.execute(f"PRAGMA user_version = {int(number)}")
                log.info("outbox migrated to schema %d (%s)", number, name)
        finally:
            self.conn.execute("PRAGMA foreign_keys = ON")

    def ensure_present(self) -> None:
        """Raise OutboxGone once the file this connection writes to is no longer the file at the
        outbox's path (deleted by a cleanup script, replaced by another): what is written from then
        on would be lost at the next start, so nothing more is acknowledged. One stat, ~2 µs."""
        if self._identity is None:
            return
        if self._gone is None:
            try:
                st = os.stat(self.path)
                now = (st.st_dev, st.st_ino)
            except FileNotFoundError:
                now = None
            except OSError:
                return  # cannot tell (a share gone for a moment): the write itself will say
            if now == self._identity:
                return
            self._gone = "deleted" if now is None else "replaced by another file"
            log.error("the outbox file %s was %s while relay was running; relay takes no more results",
                      self.path, self._gone)
        raise OutboxGone(
            f"the outbox file {self.path} was {self._gone} while relay was running, so relay takes no more "
            "results (nothing is acknowledged into a deleted file); results sent to the local listener are "
            "refused and files stay in their folders. Restore the file if it can be, then restart relay")

    def ride_along(self, sql: str, params: tuple[object, ...]) -> None:
        """A small write that needs no durable commit of its own (a request count): it is made in
        the next write transaction of this connection, and lost with it if that one fails."""
        with self._side_lock:
            self._riders.append((sql, params))

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction (BEGIN IMMEDIATE ... COMMIT), durable on return. Raises OutboxGone,
        also after a commit, when the outbox file is no longer the one at the outbox's path."""
        with self.lock:
            self.ensure_present()
            try:
                self.conn.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as exc:
                raise translate(exc, self.path) from exc
            outer, self._writing_thread = self._writing_thread, threading.get_ident()
            try:
                with self._side_lock:
                    riders, self._riders = self._riders, []
                for sql, params in riders:
                    self.conn.execute(sql, params)
                yield self.conn
            except sqlite3.Error as exc:
                with contextlib.suppress(sqlite3.Error):
                    self.conn.execute("ROLLBACK")
                raise translate(exc, self.path) from exc
            except BaseException:
                with contextlib.suppress(sqlite3.Error):
                    self.conn.execute("ROLLBACK")
                raise
            finally:
                self._writing_thread = outer
            try:
                self.conn.execute("COMMIT")
            except sqlite3.Error as exc:
                with contextlib.suppress(sqlite3.Error):
                    self.conn.execute("ROLLBACK")
                raise translate(exc, self.path) from exc
            self.ensure_present()  # committed into a file that is gone: not durable, say so

    @contextlib.contextmanager
    def reading(self) -> Iterator[sqlite3.Connection]:
        """A consistent read (one snapshot) for queries made of several statements."""
        with self.lock:
            try:
                self.conn.execute("BEGIN")
                try:
                    yield self.conn
                finally:
                    self.conn.execute("COMMIT")
            except sqlite3.Error as exc:  # a damaged page met while reading: a plain error, not a bug
                with contextlib.suppress(sqlite3.Error):
                    self.conn.execute("ROLLBACK")
                raise translate(exc, self.path) from exc

    @contextlib.contextmanager
    def snapshot(self) -> Iterator[sqlite3.Connection]:
        """For a short read that must not wait while another thread writes (the sender's look at
        the pause and wait values while a file is committed): this thread's own read-only
        connection, which sees what is committed (WAL). Inside this thread's own write transaction,
        and for a read-only outbox, the shared connection (so a transaction sees its own writes)."""
        conn: sqlite3.Connection | None = getattr(self._local, "reader", None)
        if (self.readonly or self._writing_thread == threading.get_ident()
                or (conn is None and len(self._readers) >= MAX_READERS)):  # a thread beyond the few that read so
            with self.lock:
                yield self.conn
            return
        try:
            if conn is None:
                self.ensure_present()  # never opens (and so never makes) a file that is not the outbox
                conn = sqlite3.connect(f"{self.path.resolve().as_uri()}?mode=ro", uri=True, isolation_level=None,
                                       check_same_thread=False)
                with self._side_lock:
                    self._readers.append(conn)
                self._local.reader = conn
            yield conn
        except sqlite3.Error as exc:
            raise translate(exc, self.path) from exc

    def close(self) -> None:
        with self.lock:
            for reader in self._readers:
                reader.close()
            self._readers.clear()
            self.conn.close()


def _statements(sql: str) -> list[str]:
    return [s.strip() for s in sql.split(";") if s.strip()]
