"""Hand-written baselines that relay is measured against in the same run (no relay code in them).

- ``plain_outbox_life``: a sqlite3 outbox doing what relay's does for add+claim+complete: WAL,
  synchronous=FULL, one transaction per 500 rows added (duplicates skipped by a unique hash index),
  then batches of 500: a claim that stores the batch's CSV body and marks its rows, and a complete
  that marks them sent, each one transaction.
- ``plain_pipeline``: a folder of CSV files to an intake: parse, canonical SHA-256 (trimmed values
  in sorted column order, as relay hashes), one WAL/FULL insert transaction per file, then 500-row
  CSV POSTs to the intake, one commit per answered batch.
- ``parse_hash``: the true floor of ingest: parse and hash, nothing stored.
"""

from __future__ import annotations

import csv
import hashlib
import io
import sqlite3
import time
import uuid
from collections.abc import Sequence
from pathlib import Path

SEP = "\x1f"


def _connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = FULL")
    conn.executescript(
        "CREATE TABLE IF NOT EXISTS items (id INTEGER PRIMARY KEY, state TEXT NOT NULL, hash TEXT NOT NULL UNIQUE, "
        "body TEXT NOT NULL, batch_id INTEGER);"
        "CREATE INDEX IF NOT EXISTS items_pending ON items(id) WHERE state = 'pending';"
        "CREATE TABLE IF NOT EXISTS batches (id INTEGER PRIMARY KEY, key TEXT NOT NULL, state TEXT NOT NULL, "
        "body BLOB NOT NULL);")
    return conn


def _csv_body(columns: Sequence[str], bodies: Sequence[str]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(columns)
    writer.writerows(b.split(SEP) for b in bodies)
    return out.getvalue().encode("utf-8")


def plain_outbox_life(db: Path, data: Sequence[tuple[str, str]], columns: Sequence[str],
                      batch: int = 500) -> dict[str, float]:
    """``data``: (hash, canonical body joined by the unit separator). Times add, then claim+complete."""
    conn = _connect(db)
    t0 = time.perf_counter()
    for start in range(0, len(data), batch):
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany("INSERT OR IGNORE INTO items (state, hash, body) VALUES ('pending', ?, ?)",
                         data[start:start + batch])
        conn.execute("COMMIT")
    t1 = time.perf_counter()
    done = 0
    while True:
        conn.execute("BEGIN IMMEDIATE")
        rows = conn.execute("SELECT id, body FROM items WHERE state = 'pending' AND batch_id IS NULL "
                            "ORDER BY id LIMIT ?", (batch,)).fetchall()
        if not rows:
            conn.execute("COMMIT")
            break
        body = _csv_body(columns, [r[1] for r in rows])
        batch_id = conn.execute("INSERT INTO batches (key, state, body) VALUES (?, 'open', ?)",
                                (str(uuid.uuid4()), body)).lastrowid
        conn.execute("UPDATE items SET state = 'sending', batch_id = ? WHERE id BETWEEN ? AND ? "
                     "AND state = 'pending'", (batch_id, rows[0][0], rows[-1][0]))
        conn.execute("COMMIT")
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("UPDATE items SET state = 'sent' WHERE batch_id = ?", (batch_id,))
        conn.execute("UPDATE batches SET state = 'done' WHERE id = ?", (batch_id,))
        conn.execute("COMMIT")
        done += len(rows)
    t2 = time.perf_counter()
    conn.close()
    assert done == len(data), (done, len(data))
    return {"add": t1 - t0, "drain": t2 - t1, "total": t2 - t0}


def _canonical_rows(path: Path) -> tuple[list[str], list[tuple[str, str]]]:
    """(sorted column names, [(sha256 of names + canonical row, canonical row)]) of one CSV file."""
    with path.open("r", encoding="utf-8-sig", newline="") as fh:
        reader = csv.reader(fh)
        header = [h.strip() for h in next(reader)]
        order = sorted(range(len(header)), key=header.__getitem__)
        columns = [header[i] for i in order]
        base = hashlib.sha256((SEP.join(columns) + "\n").encode("utf-8"))
        rows = []
        for row in reader:
            body = SEP.join(row[i].strip() for i in order)
            h = base.copy()
            h.update(body.encode("utf-8"))
            rows.append((h.hexdigest(), body))
    return columns, rows


def parse_hash(path: Path) -> int:
    """The floor without storage: every row parsed and hashed. Returns the row count."""
    return len(_canonical_rows(path)[1])


def plain_pipeline(folder: Path, db: Path, url: str, token: str, batch: int = 500) -> int:
    """Every CSV file of ``folder`` into a durable table, then to the intake in 500-row POSTs."""
    import httpx

    conn = _connect(db)
    columns: list[str] = []
    for path in sorted(folder.glob("*.csv")):
        columns, rows = _canonical_rows(path)
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany("INSERT OR IGNORE INTO items (state, hash, body) VALUES ('pending', ?, ?)", rows)
        conn.execute("COMMIT")
    sent = 0
    with httpx.Client(timeout=60) as client:
        while True:
            rows = conn.execute("SELECT id, body FROM items WHERE state = 'pending' ORDER BY id LIMIT ?",
                                (batch,)).fetchall()
            if not rows:
                break
            answer = client.post(url, content=_csv_body(columns, [r[1] for r in rows]), headers={
                "client": "simple_report.default", "Content-Type": "text/csv", "Idempotency-Key": str(uuid.uuid4()),
                "payloadname": "plain.csv", "Authorization": f"Bearer {token}"})
            if answer.status_code // 100 != 2:
                raise SystemExit(f"the intake answered {answer.status_code}: {answer.text[:200]}")
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("UPDATE items SET state = 'sent' WHERE id BETWEEN ? AND ? AND state = 'pending'",
                         (rows[0][0], rows[-1][0]))
            conn.execute("COMMIT")
            sent += len(rows)
    conn.close()
    return sent
