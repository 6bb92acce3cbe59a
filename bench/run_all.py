"""Every benchmark in one run, printed as one table.

    .venv/bin/python bench/run_all.py [--quick] [--queue-items N] [--skip gui,drain,...]

Runs bench/ingest.py, drain.py, listener.py, gui.py and stub.py as subprocesses with smaller flags
(each prints its own figures; this script reads them back), then, in this process, compares the
outbox with persist-queue's SQLiteAckQueue on the same machine: the full life of N items (default
100,000; --quick: 5,000) on each side. The comparison needs the optional extra
``pip install -e '.[bench]'`` (persist-queue). Figures only; nothing is asserted. --quick takes
about a minute, the full run about five minutes on a 2-core machine (half of it
SQLiteAckQueue's 300,000 commits).
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

BATCH = 500  # the sender's default intake.batch_max_items

SYNCHRONOUS = {0: "OFF", 1: "NORMAL", 2: "FULL", 3: "EXTRA"}

SIZES = {
    "full": {
        "ingest": ["--rows", "50000", "--small", "5000", "--sent", "300000", "--claim", "20000"],
        "drain": ["--items", "50000", "--idle", "3"],
        "listener": ["--seconds", "5"],
        "gui": ["--items", "1000000", "--runs", "1"],
        "stub": ["--batches", "40", "--rows", "500"],
        "queue": 100_000,
    },
    "quick": {
        "ingest": ["--rows", "10000", "--small", "2000", "--sent", "50000", "--claim", "5000"],
        "drain": ["--items", "5000", "--idle", "1"],
        "listener": ["--seconds", "2"],
        "gui": ["--items", "100000", "--runs", "1"],
        "stub": ["--batches", "10", "--rows", "500"],
        "queue": 5_000,
    },
}


@dataclass
class Row:
    figure: str
    value: str
    how: str


def note(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def run_bench(name: str, args: list[str], timeout: float) -> tuple[str | None, str]:
    """(stdout, '') of ``bench/NAME.py ARGS``, or (None, why it gave no figures)."""
    cmd = [sys.executable, str(ROOT / "bench" / f"{name}.py"), *args]
    note(f"running bench/{name}.py {' '.join(args)} ...")
    started = time.perf_counter()
    try:
        out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return None, f"no figures: still running after {timeout:.0f} s"
    note(f"  done in {time.perf_counter() - started:.0f} s")
    if out.returncode != 0 and not out.stdout.strip():
        last = (out.stderr.strip().splitlines() or ["?"])[-1]
        return None, f"no figures: exit {out.returncode} ({last[:100]})"
    return out.stdout, ""


def number(pattern: str, text: str) -> float | None:
    m = re.search(pattern, text, re.MULTILINE)
    return float(m.group(1).replace(",", "")) if m else None


def fmt(value: float | None, unit: str = "", digits: int = 0) -> str:
    return "?" if value is None else f"{value:,.{digits}f}{unit}"


# -- the benchmarks that exist as scripts ---------------------------------------------------------------


def ingest_rows(args: list[str]) -> list[Row]:
    out, why = run_bench("ingest", args, 900)
    how = "bench/ingest.py " + " ".join(args)
    if out is None:
        return [Row("ingest, relay against the floor", why, how)]
    table = re.findall(r"^\s*(\d+)\s+([\d,]+)\s+([\d,]+)\s+([\d.]+)\s", out, re.MULTILINE)
    rows = []
    if table:
        n, floor, ours, ratio = table[-1]
        rows.append(Row(f"ingest, relay / floor ({int(n):,} rows)", f"{float(ratio):.2f}",
                        f"relay {ours} rows/s, floor {floor} rows/s (csv + sha256 + one WAL/FULL insert); {how}"))
    cc = re.search(r"claim\+complete, batches of (\d+): ([\d,]+) items/s with no history; ([\d,]+) items/s with "
                   r"([\d,]+) sent", out)
    if cc:
        rows.append(Row("claim+complete, batches of " + cc.group(1), f"{cc.group(2)} items/s",
                        f"{cc.group(3)} items/s with {cc.group(4)} sent items present"))
    return rows or [Row("ingest", "no figures in its output", how)]


def drain_rows(args: list[str]) -> list[Row]:
    out, why = run_bench("drain", args, 900)
    how = "bench/drain.py " + " ".join(args) + " (agent -> stub subprocess on loopback, batches of 500)"
    if out is None:
        return [Row("drain to the stub", why, how)]
    worst = fmt(number(r"worst (\d+) ms", out), " ms")
    return [
        Row("drain to the stub", fmt(number(r"([\d,]+) items/s", out), " items/s"), how),
        Row("idle latency, commit to receipt", fmt(number(r"median (\d+) ms", out), " ms"), f"median; worst {worst}"),
    ]


def listener_rows(args: list[str]) -> list[Row]:
    out, why = run_bench("listener", args, 300)
    how = "bench/listener.py " + " ".join(args) + " (8 keep-alive clients in a child process, 202 = durable)"
    if out is None:
        return [Row("listener durable posts/s", why, how)]
    p50 = fmt(number(r"p50 ([\d.]+)", out), " ms", 1)
    return [
        Row("listener durable posts/s", fmt(number(r"durable posts/s: ([\d,]+)", out), " /s"), how),
        Row("listener latency p99", fmt(number(r"p99 ([\d.]+)", out), " ms", 1), f"p50 {p50}"),
    ]


def gui_rows(args: list[str]) -> list[Row]:
    items = int(args[args.index("--items") + 1])
    out, why = run_bench("gui", args, 1200)
    how = "bench/gui.py " + " ".join(args) + " (relay gui --screenshot, Qt offscreen, fresh process)"
    if out is None:
        return [Row(f"GUI open at {items:,} items", why, how)]
    populated = number(r"populated window ([\d.]+) s", out)
    ready = number(r"agent ready ([\d.]+) s", out)
    rss = number(r"peak RSS of the app process: (\d+) MB", out)
    return [
        Row(f"GUI open at {items:,} items", fmt(populated, " s", 2),
            f"launch to populated window; agent ready (after the integrity check) {fmt(ready, ' s', 2)}; "
            f"{how}"),
        Row(f"GUI peak RSS at {items:,} items", fmt(rss, " MB"), "peak RSS of the app process"),
    ]


def stub_rows(args: list[str]) -> list[Row]:
    out, why = run_bench("stub", args, 300)
    how = "bench/stub.py " + " ".join(args) + " (one client, sequential CSV batches)"
    if out is None:
        return [Row("stub intake", why, how)]
    median = fmt(number(r"median ([\d.]+) ms", out), " ms", 1)
    return [Row("stub intake", fmt(number(r"([\d,]+) items/s", out), " items/s"),
                f"{median} median per request; {how}")]


# -- the outbox against persist-queue's SQLiteAckQueue ----------------------------------------------------


def payloads(n: int) -> list[tuple[str, str, str]]:
    """(content hash, stored values, tracking id) of n generated SimpleReport rows, made before timing."""
    from relay.hashing import RowCanonicalizer
    from relay.samples import SIMPLE_REPORT_COLUMNS, simple_report_rows

    canon = RowCanonicalizer(SIMPLE_REPORT_COLUMNS)
    out = []
    for row in simple_report_rows(n, seed=2024):
        values, digest = canon([row[c] for c in SIMPLE_REPORT_COLUMNS])
        out.append((digest, values, row["Result_ID"]))
    return out


def outbox_side(work: Path, data: list[tuple[str, str, str]]) -> dict[str, float]:
    from relay.delivery.wire import build_csv
    from relay.hashing import RowCanonicalizer
    from relay.samples import SIMPLE_REPORT_COLUMNS
    from relay.store.models import NewItem
    from relay.store.outbox import Outbox

    columns = RowCanonicalizer(SIMPLE_REPORT_COLUMNS).columns
    items = [NewItem(h, values, tid, columns, n + 2) for n, (h, values, tid) in enumerate(data)]
    box = Outbox(work / "outbox.db")
    try:
        sync = box.db.conn.execute("PRAGMA synchronous").fetchone()[0]
        t0 = time.perf_counter()
        for start in range(0, len(items), BATCH):  # a 500-row file (or 500 posts sharing a commit) at a time
            box.add_items(items[start:start + BATCH], source="bench", client="simple_report.default",
                          now=time.time(), source_name="bench.csv")
        t1 = time.perf_counter()
        done = 0
        while True:  # the sender's loop: claim a batch (its CSV body built and stored), then complete it
            batch = box.claim(now=time.time(), lease_s=60, owner="bench", limit=BATCH, build=build_csv)
            if batch is None:
                break
            box.complete(batch.id, owner="bench", receipt="r", status=201, now=time.time())
            done += len(batch.item_ids)
        t2 = time.perf_counter()
    finally:
        box.close()
    assert done == len(items), (done, len(items))
    return {"add": t1 - t0, "drain": t2 - t1, "total": t2 - t0, "synchronous": sync}


def ackqueue_side(work: Path, data: list[tuple[str, str, str]]) -> dict[str, float]:
    from persistqueue import SQLiteAckQueue

    q = SQLiteAckQueue(str(work / "ackqueue"), multithreading=False)
    try:
        sync = q._putter.execute("PRAGMA synchronous").fetchone()[0]
        mode = q._putter.execute("PRAGMA journal_mode").fetchone()[0]
        t0 = time.perf_counter()
        for _, values, _ in data:
            q.put(values)
        t1 = time.perf_counter()
        done = 0
        while True:
            try:
                item = q.get(block=False)
            except Exception:  # persistqueue.Empty
                break
            q.ack(item)
            done += 1
            if done % BATCH == 0:  # as its docs advise: acked rows left in the table slow every get
                q.clear_acked_data()
        t2 = time.perf_counter()
    finally:
        q.close()
    assert done == len(data), (done, len(data))
    return {"add": t1 - t0, "drain": t2 - t1, "total": t2 - t0, "synchronous": sync, "journal": mode}


def queue_rows(n: int) -> list[Row]:
    try:
        import persistqueue  # noqa: F401
    except ImportError:
        return [Row(f"outbox vs SQLiteAckQueue ({n:,} items)", "not run",
                    "persist-queue is not installed: pip install -e '.[bench]'")]
    note(f"comparing the outbox with SQLiteAckQueue on {n:,} items ...")
    data = payloads(n)
    with tempfile.TemporaryDirectory(prefix="relay-queues-") as tmp:
        ours = outbox_side(Path(tmp), data)
        note(f"  outbox: {ours['total']:.1f} s")
        theirs = ackqueue_side(Path(tmp), data)
        note(f"  SQLiteAckQueue: {theirs['total']:.1f} s")
    rate_ours, rate_theirs = n / ours["total"], n / theirs["total"]
    return [
        Row(f"outbox add+claim+complete ({n:,})", f"{rate_ours:,.0f} items/s",
            f"add {n / ours['add']:,.0f}/s, claim+complete {n / ours['drain']:,.0f}/s; one commit per 500 added, "
            f"per claim and per complete of a 500-item batch (CSV body built); WAL, "
            f"synchronous={SYNCHRONOUS.get(int(ours['synchronous']))}"),
        Row(f"SQLiteAckQueue put+get+ack ({n:,})", f"{rate_theirs:,.0f} items/s",
            f"put {n / theirs['add']:,.0f}/s, get+ack {n / theirs['drain']:,.0f}/s; one commit per put, get and ack "
            f"(its ack queue cannot batch: auto_commit=False is not supported), acked rows cleared every 500; {str(theirs['journal']).upper()}, "
            f"synchronous={SYNCHRONOUS.get(int(theirs['synchronous']))}"),
        Row("outbox / SQLiteAckQueue", f"{rate_ours / rate_theirs:,.1f} x",
            "same rows (SimpleReport layout, ~0.6 KB), same disk, same run; both durable at every acknowledgement "
            "they give"),
    ]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="smaller sizes: about a minute")
    ap.add_argument("--queue-items", type=int, help="items for the outbox/SQLiteAckQueue comparison")
    ap.add_argument("--skip", default="", help="comma-separated: ingest,drain,listener,gui,stub,queue")
    args = ap.parse_args()
    mode = "quick" if args.quick else "full"
    sizes = SIZES[mode]
    skip = {s.strip() for s in args.skip.split(",") if s.strip()}
    started = time.perf_counter()

    steps: list[tuple[str, Callable[[], list[Row]]]] = [
        ("ingest", lambda: ingest_rows(list(sizes["ingest"]))),  # type: ignore[arg-type]
        ("drain", lambda: drain_rows(list(sizes["drain"]))),  # type: ignore[arg-type]
        ("listener", lambda: listener_rows(list(sizes["listener"]))),  # type: ignore[arg-type]
        ("gui", lambda: gui_rows(list(sizes["gui"]))),  # type: ignore[arg-type]
        ("stub", lambda: stub_rows(list(sizes["stub"]))),  # type: ignore[arg-type]
        ("queue", lambda: queue_rows(args.queue_items or int(sizes["queue"]))),  # type: ignore[call-overload]
    ]
    rows: list[Row] = []
    for name, step in steps:
        if name not in skip:
            rows.extend(step())

    print(f"relay benchmarks ({mode}) — {time.strftime('%Y-%m-%d %H:%M')}, {os.cpu_count()} CPUs, "
          f"Python {platform.python_version()}, SQLite {sqlite3.sqlite_version}, "
          f"{time.perf_counter() - started:.0f} s in all")
    w1 = max(len(r.figure) for r in rows)
    w2 = max(len(r.value) for r in rows)
    print(f"{'figure':<{w1}}  {'value':>{w2}}  how / detail")
    print(f"{'-' * w1}  {'-' * w2}  {'-' * 40}")
    for r in rows:
        print(f"{r.figure:<{w1}}  {r.value:>{w2}}  {r.how}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
