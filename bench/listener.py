"""Local listener benchmark: durable posts per second from concurrent keep-alive clients.

    .venv/bin/python bench/listener.py [--clients 8] [--seconds 10] [--posts N] [--format csv]
                                       [--same-process]

Starts a real Listener on 127.0.0.1 over a fresh outbox (WAL, synchronous=FULL) in a temporary
folder. Each client is a thread with its own keep-alive httpx.Client posting one JSON result at a
time (SimpleReport fields, unique ids) and waiting for the answer; a 202 means the item is durably
committed. The clients run in a child process, as the systems posting results are other programs;
``--same-process`` runs them as threads of the listener's own process (they then share its GIL).
Prints posts/s, latency percentiles, CPU seconds per side, and how many posts shared each commit.
"""

from __future__ import annotations

import argparse
import itertools
import json
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from relay.clock import SystemClock  # noqa: E402
from relay.config import ListenerConfig  # noqa: E402
from relay.ingest.listener import Listener  # noqa: E402
from relay.samples import simple_report_row  # noqa: E402
from relay.status import read_status  # noqa: E402
from relay.store.outbox import Outbox  # noqa: E402


def bodies(seed: int) -> Iterator[bytes]:
    """SimpleReport results with unique ids and patients; a few base rows varied per post."""
    rng = random.Random(seed)
    bases = [simple_report_row(rng, n) for n in range(50)]
    for n in itertools.count():
        row = dict(bases[n % len(bases)])
        row["Result_ID"] = f"bench-{seed}-{n}"
        row["Patient_ID"] = f"p-{seed}-{n}"
        yield json.dumps(row, ensure_ascii=False).encode()


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


def run_clients(url: str, clients: int, seconds: float, posts: int) -> dict[str, Any]:
    """Post from ``clients`` threads until the time is up (or ``posts`` in all); latencies and answers."""
    per_client = posts // clients if posts else None
    latencies: list[list[float]] = [[] for _ in range(clients)]
    statuses: dict[int, int] = {}
    lock = threading.Lock()
    go = threading.Event()
    deadline = [0.0]

    def client(index: int) -> None:
        mine = latencies[index]
        with httpx.Client(base_url=url, timeout=30) as http:
            go.wait()
            for body in itertools.islice(bodies(index), per_client):
                if per_client is None and time.perf_counter() >= deadline[0]:
                    break
                t0 = time.perf_counter()
                r = http.post("/v1/results", content=body, headers={"content-type": "application/json"})
                mine.append(time.perf_counter() - t0)
                with lock:
                    statuses[r.status_code] = statuses.get(r.status_code, 0) + 1

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    cpu0 = time.process_time()
    started = time.perf_counter()
    deadline[0] = started + seconds
    go.set()
    for t in threads:
        t.join()
    return {"elapsed": time.perf_counter() - started, "cpu": time.process_time() - cpu0,
            "latencies": [x for lat in latencies for x in lat], "statuses": statuses}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--posts", type=int, default=0, help="stop after this many posts in all (0: by time)")
    parser.add_argument("--format", default="csv", choices=("csv", "json", "ndjson"), help="intake format")
    parser.add_argument("--same-process", action="store_true", help="clients as threads of the listener's process")
    parser.add_argument("--client-of", metavar="URL", help=argparse.SUPPRESS)  # the child process
    args = parser.parse_args()

    if args.client_of:
        result = run_clients(args.client_of, args.clients, args.seconds, args.posts)
        print(json.dumps(result))
        return 0

    with tempfile.TemporaryDirectory() as tmp:
        box = Outbox(Path(tmp) / "outbox.db")
        config = ListenerConfig(enabled=True, host="127.0.0.1", port=0, token=None, max_body_bytes=50 * 1024 * 1024)
        listener = Listener(box, config, intake_format=args.format, client="bench", clock=SystemClock(),
                            notify=lambda: None, status=lambda: read_status(box, (), SystemClock().now()))
        listener.start()
        cpu0 = time.process_time()
        if args.same_process:
            result = run_clients(listener.url, args.clients, args.seconds, args.posts)
        else:
            child = subprocess.run(
                [sys.executable, __file__, "--client-of", listener.url, "--clients", str(args.clients),
                 "--seconds", str(args.seconds), "--posts", str(args.posts)],
                check=True, capture_output=True, text=True)
            result = json.loads(child.stdout)
        listener_cpu = time.process_time() - cpu0
        stats = listener.stats()
        listener.stop()
        stored = box.count_items()
        box.close()

    every: list[float] = result["latencies"]
    statuses = {int(k): v for k, v in result["statuses"].items()}
    accepted, elapsed = statuses.get(202, 0), result["elapsed"]
    where = "in the listener's process" if args.same_process else "in a child process"
    print(f"clients: {args.clients} keep-alive threads {where}, one JSON result per post "
          f"({len(next(bodies(0))):,} bytes, {args.format} intake)")
    print(f"posts: {len(every):,} in {elapsed:.1f} s; answers {dict(sorted(statuses.items()))}; "
          f"items stored {stored:,}")
    print(f"durable posts/s: {accepted / elapsed:,.0f}")
    print(f"latency ms: p50 {percentile(every, 50) * 1000:.1f}  p90 {percentile(every, 90) * 1000:.1f}  "
          f"p99 {percentile(every, 99) * 1000:.1f}  max {max(every) * 1000:.1f}  "
          f"mean {statistics.fmean(every) * 1000:.1f}")
    if args.same_process:
        print(f"cpu s: {listener_cpu:.1f} for listener and clients together")
    else:
        print(f"cpu s: listener {listener_cpu:.1f} ({listener_cpu / max(1, accepted) * 1000:.2f} ms per post), "
              f"clients {result['cpu']:.1f}")
    print(f"commits: {stats['commits']:,} for {stats['requests']:,} posts "
          f"({stats['requests'] / max(1, stats['commits']):.1f} posts per commit)")
    return 0 if accepted == len(every) == stored else 1


if __name__ == "__main__":
    raise SystemExit(main())
