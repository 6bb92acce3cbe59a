"""Scrape benchmark: GET /metrics (and /healthz) on the local listener of an agent over a large outbox.

    .venv/bin/python bench/metrics.py [--items 1000000] [--scrapes 40] [--keep DIR]

Builds outboxes of generated SimpleReport rows in relay's own storage format (bench/gui.py's
builder: files of 500 rows, failed and dead sprinkled in, sent ones with receipts), plus a
duplicate log, in two shapes: a site in its steady state (0.1 % waiting) and a site cut off from
its intake for days (30 % waiting). Starts a real agent on each (listener on 127.0.0.1, no intake)
and times scrapes over HTTP with a keep-alive client, as Prometheus makes them. The baseline, timed
in the same run on the same file: the status read as it was before (items counted with GROUP BY
state). Prints figures only; asserts nothing about time.
"""

from __future__ import annotations

import argparse
import hashlib
import resource
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import gui  # noqa: E402  (bench/gui.py: the million-item outbox builder)

from relay.agent import Agent  # noqa: E402
from relay.config import from_dict  # noqa: E402

SHAPES = {"steady (0.1 % waiting)": 0.001, "cut off (30 % waiting)": 0.30}
DUPLICATES = 20_000


def build(path: Path, n: int, waiting: float) -> float:
    gui.MIX = (("pending", waiting), *gui.MIX[1:])  # the builder's share of waiting items
    took = gui.build_outbox(path, n)
    conn = sqlite3.connect(str(path))
    conn.executemany(
        "INSERT INTO duplicates (content_hash, original_item_id, source, source_name, file_id, line, seen_at) "
        "VALUES (?, ?, 'watch', 'results_000001.csv', 1, ?, ?)",
        ((hashlib.sha256(f"dup{i}".encode()).hexdigest(), i * 37 % n + 1, i % 500 + 2, time.time() - i)
         for i in range(DUPLICATES)))
    conn.executemany("INSERT INTO control (key, value) VALUES (?, ?)",
                     [("intake_requests.delivered", "1393"), ("intake_requests.error", "12"),
                      ("clean_close", "1")])
    conn.commit()
    conn.close()
    return took


def old_counts_ms(path: Path, rounds: int) -> float:
    """The status's item counts as they were read before: one GROUP BY over the state index."""
    conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    conn.execute("PRAGMA cache_size = -8192")
    times = []
    for _ in range(rounds):
        t = time.perf_counter()
        conn.execute("SELECT state, count(*) FROM items GROUP BY state").fetchall()
        times.append((time.perf_counter() - t) * 1000)
    conn.close()
    return statistics.median(times)


def scrape(url: str, rounds: int, between: Callable[[int], None] | None = None) -> list[float]:
    times = []
    with httpx.Client(base_url=url, timeout=30) as http:
        http.get("/metrics").raise_for_status()  # a first scrape warms the page cache, as a running agent has
        for n in range(rounds):
            if between is not None:
                between(n)
            t = time.perf_counter()
            r = http.get("/metrics")
            times.append((time.perf_counter() - t) * 1000)
            r.raise_for_status()
    return times


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--items", type=int, default=1_000_000)
    ap.add_argument("--scrapes", type=int, default=40)
    ap.add_argument("--keep", type=Path, help="build the outboxes here and keep them")
    args = ap.parse_args()
    work = args.keep or Path(tempfile.mkdtemp(prefix="relay-metrics-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    print(f"items {args.items:,}, scrapes {args.scrapes} per shape, work {work}")
    for name, waiting in SHAPES.items():
        path = work / f"outbox-{int(waiting * 1000)}.db"
        if not path.exists():
            print(f"  building {name} ... {build(path, args.items, waiting):.1f} s")
        config = from_dict({"store": {"path": str(path)}, "listener": {"enabled": True, "port": 0}}, None)
        with Agent(config) as agent:
            url = agent.listener.url
            baseline = old_counts_ms(path, args.scrapes)
            box = agent.box
            # Something committed between scrapes (delivery, ingest): every scrape counts again.
            moving = scrape(url, args.scrapes, lambda n: box.set_control({"bench_tick": str(n)}))
            still = scrape(url, args.scrapes)  # nothing changed since the last scrape: counts from the cache
            box.set_control({"bench_tick": None})
            t = time.perf_counter()
            agent.stats()
            status_ms = (time.perf_counter() - t) * 1000
            with httpx.Client(base_url=url, timeout=30) as http:
                health = http.get("/healthz")
            pending = health.json()["pending"]
        print(f"{name}: {pending:,} waiting; status read after a change {status_ms:.1f} ms; "
              f"baseline (GROUP BY counts alone) {baseline:.1f} ms")
        for label, times in (("after a change", moving), ("nothing changed", still)):
            times.sort()
            p95 = times[min(len(times) - 1, int(len(times) * 0.95))]
            print(f"  GET /metrics, {label}: median {statistics.median(times):.1f} ms, p95 {p95:.1f} ms, "
                  f"max {times[-1]:.1f} ms")
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS {rss:.0f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
