"""Ingest benchmark: relay's file path against the bare floors, and claim+complete throughput.

    .venv/bin/python bench/ingest.py [--rows 100000] [--small 10000] [--big 0] [--sent 1000000] [--rounds 3]

Prints rows/s for relay's ingest (CSV reader, canonical hashing, duplicate check, one WAL/FULL
transaction into the outbox; a file of 256 KB or more is parsed by the row-reading helper process,
whose start is timed and whose peak RSS is added to relay's) and for two floors measured in the same run: the SQLite floor (csv
parse + sha256 per row + one WAL/FULL transaction inserting hash and body under a unique index) and
the parse floor (csv parse + canonical sha256, nothing stored); ratios, and peak RSS per file size
(each measured in its own process, rounds alternating the sides, medians). ``--big N`` adds a file
of N rows (e.g. 1,000,000) and prints relay's rate there against the ``--rows`` file. Then
claim+complete items/s on an empty table and with ``--sent`` sent items present, made as real sent
items are (batches of 500 with their members, events and payloads; alternating rounds, medians).
Temporary folders are removed.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import os
import resource
import shutil
import statistics
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(1, str(ROOT / "bench"))
if os.environ.get("RELAY_ROOT"):  # a worker measuring another relay tree (--before)
    sys.path.insert(0, os.environ["RELAY_ROOT"])


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


def worker_parse(path: Path, db: Path) -> dict[str, float]:
    from plain import parse_hash

    t0 = time.perf_counter()
    rows = parse_hash(path)
    return {"rows": rows, "seconds": time.perf_counter() - t0, "rss_mb": peak_rss_mb()}


def worker_relay(path: Path, db: Path) -> dict[str, float]:
    """relay's path for one file, the row-reading helper process included: timed from before the
    helper starts, and the RSS is relay's peak plus the helper's (Linux: VmHWM)."""
    from relay.ingest.files import ingest_file
    from relay.store.outbox import Outbox

    try:
        from relay.ingest import parse_helper
    except ImportError:  # a tree from before the helper (--before)
        parse_helper = None
    t0 = time.perf_counter()
    box = Outbox(db)
    out = ingest_file(box, path, client="simple_report.default", source="bench", now=time.time(),
                      report_dir=db.parent)
    box.close()
    seconds = time.perf_counter() - t0
    pid = parse_helper.shared().pid if parse_helper else None
    return {"rows": out.accepted, "seconds": seconds, "rss_mb": peak_rss_mb() + helper_peak_mb(pid)}


def helper_peak_mb(pid: int | None) -> float:
    """The helper process's peak RSS (0 when it did not run, or off Linux)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text() if pid else ""
    except OSError:
        return 0.0
    return next((int(line.split()[1]) / 1024 for line in status.splitlines() if line.startswith("VmHWM:")), 0.0)


def run_worker(kind: str, path: Path, workdir: Path, before: str | None = None) -> dict[str, float]:
    folder = Path(tempfile.mkdtemp(dir=workdir))
    env = dict(os.environ)
    env.pop("RELAY_ROOT", None)
    if kind == "before":
        env["RELAY_ROOT"] = str(Path(before or ".").resolve())
    try:
        out = subprocess.run([sys.executable, __file__, "--worker", "relay" if kind == "before" else kind, str(path),
                              str(folder / "bench.db")], capture_output=True, text=True, check=True, env=env)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
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


def add_sent(box, count: int, batch: int = 500) -> None:
    """Already-delivered items as a real run leaves them: in batches of ``batch`` (done, with a
    receipt, their members and events), each item bound to its batch with a SimpleReport-sized
    payload. Written straight in big transactions (fast set-up); the duplicate key too where the
    schema has one (schema 4)."""
    from relay.hashing import RowCanonicalizer
    from relay.samples import SIMPLE_REPORT_COLUMNS, simple_report_rows

    canon = RowCanonicalizer(SIMPLE_REPORT_COLUMNS)
    cols = {r[1] for r in box.db.conn.execute("PRAGMA table_info(items)")}
    keyed = "hash_key" in cols
    key_of = None
    if keyed:
        from relay.store.file_tx import hash_key as key_of
    now = time.time() - 86_400
    cs_id = box.db.conn.execute("SELECT id FROM column_sets LIMIT 1").fetchone()
    with box.db.transaction() as conn:
        if cs_id is None:
            cs_id = (conn.execute("INSERT INTO column_sets (key, columns) VALUES ('bench', ?)",
                                  (json.dumps(list(canon.columns)),)).lastrowid,)
    first = box.db.conn.execute("SELECT coalesce(max(id), 0) + 1 FROM items").fetchone()[0]
    first_batch = box.db.conn.execute("SELECT coalesce(max(id), 0) + 1 FROM batches").fetchone()[0]
    source = simple_report_rows(count, seed=4242)
    step = 100_000
    for s in range(0, count, step):
        ids = range(first + s, first + min(s + step, count))
        items, payloads, batches, members, events = [], [], [], [], []
        for i in ids:
            row = next(source)
            values, digest = canon([row[c] for c in SIMPLE_REPORT_COLUMNS])
            b = first_batch + (i - first) // batch
            if (i - first) % batch == 0:
                batches.append((b, f"key-{b}", min(batch, first + count - i), now, now, now))
                events += [(b, now, "formed", None), (b, now, "delivered", 201)]
            members.append((b, (i - first) % batch + 1, i))
            item = (i, "bench", "old.csv", "c", row["Result_ID"], digest, cs_id[0], f"c|{cs_id[0]}|old.csv", now, now,
                    now, now, b, f"receipt-{b}")
            items.append(item + ((key_of(digest),) if key_of else ()))
            payloads.append((i, values))
        with box.db.transaction() as conn:
            conn.executemany("INSERT INTO batches (id, idempotency_key, state, client, content_type, payloadname, "
                             "item_count, attempts, next_attempt_at, receipt, last_status, created_at, updated_at, "
                             "claimed_at) VALUES (?, ?, 'done', 'c', 'text/csv', 'old.csv', ?, 1, ?, 'r', 201, ?, ?, "
                             "?)", [(*b[:3], b[3], b[4], b[5], b[5]) for b in batches])
            conn.executemany(
                "INSERT INTO items (id, state, source, source_name, client, tracking_id, content_hash, column_set_id, "
                "group_key, next_attempt_at, created_at, updated_at, sent_at, batch_id, receipt, attempts"
                + (", hash_key" if keyed else "") + ") VALUES (?, 'sent', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1"
                + (", ?" if keyed else "") + ")", items)
            conn.executemany("INSERT INTO payloads (item_id, payload) VALUES (?, ?)", payloads)
            conn.executemany("INSERT INTO batch_items (batch_id, position, item_id) VALUES (?, ?, ?)", members)
            conn.executemany("INSERT INTO batch_events (batch_id, at, kind, status) VALUES (?, ?, ?, ?)", events)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--small", type=int, default=10_000)
    ap.add_argument("--big", type=int, default=0, help="also a file of this many rows (e.g. 1000000)")
    ap.add_argument("--file-rounds", type=int, default=1, help="rounds of each file size (alternating sides)")
    ap.add_argument("--sent", type=int, default=1_000_000)
    ap.add_argument("--claim", type=int, default=100_000)
    ap.add_argument("--batch", type=int, default=500)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--before", help="another relay tree whose ingest is measured beside (before a change)")
    ap.add_argument("--worker", nargs=3, metavar=("KIND", "FILE", "DB"))
    args = ap.parse_args()
    if args.worker:
        kind, file, db = args.worker
        fn = {"floor": worker_floor, "parse": worker_parse}.get(kind, worker_relay)
        print(json.dumps(fn(Path(file), Path(db))))
        return

    work = Path(tempfile.mkdtemp(prefix="relay-bench-"))
    try:
        run(args, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def run(args: argparse.Namespace, work: Path) -> None:
    from relay.samples import write_simple_report
    from relay.store.outbox import Outbox

    print(f"ingest: SimpleReport layout ({len(__import__('relay.samples').samples.SIMPLE_REPORT_COLUMNS)} columns)")
    print(f"{'rows':>8} {'floor rows/s':>13} {'relay rows/s':>13} {'ratio':>6} {'floor RSS':>10} {'relay RSS':>10} "
          f"{'parse rows/s':>13} {'relay/parse':>11}")
    relay_rates: dict[int, float] = {}
    before_rates: dict[int, float] = {}
    for rows in [n for n in (args.small, args.rows, args.big) if n]:
        path = write_simple_report(work / f"results-{rows}.csv", rows, seed=rows)
        kinds = ("floor", "relay", "parse") + (("before",) if args.before else ())
        got: dict[str, list[dict[str, float]]] = {k: [] for k in kinds}
        for round_no in range(args.file_rounds):
            for kind in (kinds if round_no % 2 == 0 else kinds[::-1]):
                got[kind].append(run_worker(kind, path, work, args.before))
        rate = {k: statistics.median(r["rows"] / r["seconds"] for r in v) for k, v in got.items()}
        rss = {k: max(r["rss_mb"] for r in v) for k, v in got.items()}
        relay_rates[rows] = rate["relay"]
        print(f"{rows:>8} {rate['floor']:>13,.0f} {rate['relay']:>13,.0f} {rate['relay'] / rate['floor']:>6.2f} "
              f"{rss['floor']:>8.1f}MB {rss['relay']:>8.1f}MB {rate['parse']:>13,.0f} "
              f"{rate['relay'] / rate['parse']:>11.2f}"
              + (f"   before: {rate['before']:,.0f} rows/s, {rss['before']:.1f}MB" if args.before else ""), flush=True)
        path.unlink()
        before_rates[rows] = rate.get("before", 0.0)
    if args.big:
        print(f"relay ingest at {args.big:,} rows / at {args.rows:,} rows: "
              f"{relay_rates[args.big] / relay_rates[args.rows]:.2f}x (medians of {args.file_rounds} rounds)"
              + (f"; before: {before_rates[args.big] / before_rates[args.rows]:.2f}x" if args.before else ""))

    if not args.rounds:
        return
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
