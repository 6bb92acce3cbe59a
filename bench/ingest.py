"""Ingest benchmark: relay's file path against the bare floor, and claim+complete throughput.

    .venv/bin/python bench/ingest.py [--rows 100000] [--small 10000] [--sent 1000000] [--rounds 3]

Prints rows/s for relay's ingest (CSV reader, canonical hashing, duplicate check, one WAL/FULL
transaction into the outbox) and for the floor measured in the same run (csv parse + sha256 per row +
one WAL/FULL transaction inserting hash and body under a unique index), their ratio, peak RSS per
file size (each measured in its own process), and claim+complete items/s on an empty table and with
a million sent items present (alternating rounds, medians).
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import resource
import statistics
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def worker_floor(path: Path, db: Path) -> dict[str, float]:
    t0 = time.perf_counter()
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = FULL")
    conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, hash TEXT NOT NULL, body TEXT NOT NULL)")
    conn.execute("CREATE UNIQUE INDEX t_hash ON t(hash)")
    conn.execute("BEGIN")
    rows = 0
    with path.open("r", encoding="utf-8-sig", newline="") as fh:
        reader = csv.reader(fh)
        next(reader)
        for row in reader:
            body = ",".join(row)
            conn.execute("INSERT INTO t (hash, body) VALUES (?, ?)",
                         (hashlib.sha256(body.encode("utf-8")).hexdigest(), body))
            rows += 1
    conn.execute("COMMIT")
    return {"rows": rows, "seconds": time.perf_counter() - t0, "rss_mb": peak_rss_mb()}


def worker_relay(path: Path, db: Path) -> dict[str, float]:
    from relay.ingest.files import ingest_file
    from relay.store.outbox import Outbox

    t0 = time.perf_counter()
    box = Outbox(db)
    out = ingest_file(box, path, client="simple_report.default", source="bench", now=time.time(),
                      report_dir=db.parent)
    box.close()
    return {"rows": out.accepted, "seconds": time.perf_counter() - t0, "rss_mb": peak_rss_mb()}


def run_worker(kind: str, path: Path, workdir: Path) -> dict[str, float]:
    db = Path(tempfile.mkdtemp(dir=workdir)) / "bench.db"
    out = subprocess.run([sys.executable, __file__, "--worker", kind, str(path), str(db)],
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def claim_complete(box, count: int, batch: int) -> float:
    from relay.delivery.wire import build_csv

    t0 = time.perf_counter()
    done = 0
    while done < count:
        b = box.claim(now=time.time(), lease_s=60, owner="bench", limit=batch, build=build_csv)
        if b is None:
            break
        box.complete(b.id, owner="bench", receipt="r", status=201, now=time.time())
        done += len(b.item_ids)
    return done / (time.perf_counter() - t0)


def fill_pending(box, count: int, start: int) -> None:
    from relay.hashing import encode_values
    from relay.store.models import NewItem

    cols = ("Result_ID", "Patient_last_name", "Test_result_code")
    step = 10_000
    for s in range(start, start + count, step):
        items = [NewItem(hashlib.sha256(str(i).encode()).hexdigest(), encode_values([str(i), "Name", "260415000"]),
                         str(i), cols) for i in range(s, min(s + step, start + count))]
        box.add_items(items, source="bench", client="c", now=time.time())


def add_sent(box, count: int) -> None:
    """A million already-delivered items, written straight in big transactions (fast set-up)."""
    now = time.time()
    step = 100_000
    first = box.db.conn.execute("SELECT coalesce(max(id), 0) + 1 FROM items").fetchone()[0]
    for s in range(0, count, step):
        ids = range(first + s, first + min(s + step, count))
        rows = [(i, "bench", "old.csv", "c", str(i), hashlib.sha256(f"sent{i}".encode()).hexdigest(), None,
                 "c|1|old.csv", now, now, now, now) for i in ids]
        with box.db.transaction() as conn:
            conn.executemany(
                "INSERT INTO items (id, state, source, source_name, client, tracking_id, content_hash, column_set_id, "
                "group_key, next_attempt_at, created_at, updated_at, sent_at) "
                "VALUES (?, 'sent', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
            conn.executemany("INSERT INTO payloads (item_id, payload) VALUES (?, '[]')", [(i,) for i in ids])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--small", type=int, default=10_000)
    ap.add_argument("--sent", type=int, default=1_000_000)
    ap.add_argument("--claim", type=int, default=100_000)
    ap.add_argument("--batch", type=int, default=500)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--worker", nargs=3, metavar=("KIND", "FILE", "DB"))
    args = ap.parse_args()
    if args.worker:
        kind, file, db = args.worker
        fn = worker_floor if kind == "floor" else worker_relay
        print(json.dumps(fn(Path(file), Path(db))))
        return

    from relay.samples import write_simple_report
    from relay.store.outbox import Outbox

    work = Path(tempfile.mkdtemp(prefix="relay-bench-"))
    print(f"ingest: SimpleReport layout ({len(__import__('relay.samples').samples.SIMPLE_REPORT_COLUMNS)} columns)")
    print(f"{'rows':>8} {'floor rows/s':>13} {'relay rows/s':>13} {'ratio':>6} {'floor RSS':>10} {'relay RSS':>10}")
    for rows in (args.small, args.rows):
        path = write_simple_report(work / f"results-{rows}.csv", rows, seed=rows)
        floor = run_worker("floor", path, work)
        ours = run_worker("relay", path, work)
        f_rate = floor["rows"] / floor["seconds"]
        r_rate = ours["rows"] / ours["seconds"]
        print(f"{rows:>8} {f_rate:>13,.0f} {r_rate:>13,.0f} {r_rate / f_rate:>6.2f} "
              f"{floor['rss_mb']:>8.1f}MB {ours['rss_mb']:>8.1f}MB")

    # Two outboxes, one with a million sent items; rounds alternate between them so that a slower
    # or faster moment of a shared machine falls on both sides. Medians of the rounds are printed.
    empty, full = Outbox(work / "claim-empty.db"), Outbox(work / "claim-full.db")
    add_sent(full, args.sent)
    rates: dict[str, list[float]] = {"empty": [], "full": []}
    for round_no in range(args.rounds):
        for name, box in (("empty", empty), ("full", full)):
            fill_pending(box, args.claim, round_no * args.claim)
            rates[name].append(claim_complete(box, args.claim, args.batch))
    empty.close()
    full.close()
    empty_rate, full_rate = statistics.median(rates["empty"]), statistics.median(rates["full"])
    print(f"claim+complete, batches of {args.batch}: {empty_rate:,.0f} items/s with no history; "
          f"{full_rate:,.0f} items/s with {args.sent:,} sent items in the table (ratio {full_rate / empty_rate:.2f}; "
          f"medians of {args.rounds} alternating rounds of {args.claim:,})")

if __name__ == "__main__":
    main()
