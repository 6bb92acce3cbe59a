"""Drain benchmark: items from the outbox to the receiving stub on loopback.

    .venv/bin/python bench/drain.py [--items 100000] [--batch 500] [--idle 7]

The stub runs as its own process (`python -m server_stub --port 0`). The agent drains a prepared
outbox of SimpleReport-layout items; prints items/s, and the idle latency of one new item from its
commit to its receipt (median and worst of ``--idle`` tries). Figures only; nothing asserted.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

TOKEN = "bench-token-0123456789"


def start_stub(workdir: Path) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen([sys.executable, "-m", "server_stub", "--port", "0", "--db", str(workdir / "stub.db"),
                             "--token", TOKEN, "--log", str(workdir / "stub.log")],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline().strip()
    if not line.startswith("listening on "):
        proc.kill()
        raise SystemExit(f"the stub did not start: {line!r}")
    return proc, line.removeprefix("listening on ") + "/api/waters"


def prepare(box, count: int) -> None:
    from relay.hashing import RowCanonicalizer
    from relay.samples import SIMPLE_REPORT_COLUMNS, simple_report_rows
    from relay.store.models import NewItem

    canon = RowCanonicalizer(SIMPLE_REPORT_COLUMNS)
    chunk: list[NewItem] = []
    for n, row in enumerate(simple_report_rows(count, seed=99)):
        values, digest = canon([row[c] for c in SIMPLE_REPORT_COLUMNS])
        chunk.append(NewItem(digest, values, row["Result_ID"], canon.columns, n + 2))
        if len(chunk) == 10_000:
            box.add_items(chunk, source="bench", client="simple_report.default", now=time.time(),
                          source_name="bench.csv")
            chunk = []
    if chunk:
        box.add_items(chunk, source="bench", client="simple_report.default", now=time.time(),
                      source_name="bench.csv")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--items", type=int, default=100_000)
    ap.add_argument("--batch", type=int, default=500)
    ap.add_argument("--idle", type=int, default=7)
    args = ap.parse_args()

    from relay.agent import Agent
    from relay.config import from_dict
    from relay.samples import simple_report_rows
    from relay.store.outbox import Outbox

    work = Path(tempfile.mkdtemp(prefix="relay-drain-"))
    stub, url = start_stub(work)
    try:
        cfg = from_dict({"intake": {"url": url, "batch_max_items": args.batch},
                         "store": {"path": str(work / "outbox.db")}, "listener": {"enabled": False}}, None)
        with Outbox(cfg.store.path) as box:
            prepare(box, args.items)
        agent = Agent(cfg, token=lambda: TOKEN)
        # Progress is read through a connection of its own, as `relay status` and the window do,
        # so that watching does not queue for the agent's connection.
        watcher = Outbox(cfg.store.path, readonly=True, check=False)
        t0 = time.perf_counter()
        agent.start()
        while watcher.count_items(state="sent") < args.items:
            time.sleep(0.05)
        drain_s = time.perf_counter() - t0
        watcher.close()

        from relay.hashing import RowCanonicalizer
        from relay.samples import SIMPLE_REPORT_COLUMNS
        from relay.store.models import NewItem

        canon = RowCanonicalizer(SIMPLE_REPORT_COLUMNS)
        latencies = []
        for i, row in enumerate(simple_report_rows(args.idle, seed=12345)):
            time.sleep(1.0)  # let the sender go idle first
            values, digest = canon([row[c] for c in SIMPLE_REPORT_COLUMNS])
            t1 = time.perf_counter()
            res = agent.box.add_items([NewItem(digest, values, row["Result_ID"], canon.columns)], source="bench",
                                      client="simple_report.default", now=time.time())
            agent.new_work()
            item_id = res.ids[0]
            while (item := agent.box.get_item(item_id)) is None or item.state != "sent":
                time.sleep(0.001)
            latencies.append(time.perf_counter() - t1)
        agent.stop()
    finally:
        stub.terminate()
        stub.wait(10)
    print(f"drain: {args.items:,} items in batches of {args.batch} to the stub on loopback: "
          f"{args.items / drain_s:,.0f} items/s ({drain_s:.1f} s)")
    print(f"idle latency, commit to receipt: median {statistics.median(latencies) * 1000:.0f} ms, "
          f"worst {max(latencies) * 1000:.0f} ms over {len(latencies)} items")


if __name__ == "__main__":
    main()
