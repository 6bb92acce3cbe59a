"""relay beside hand-written baselines doing the same durable work, in the same run.

    .venv/bin/python bench/baselines.py [--items 20000] [--files 10] [--rounds 3] [--before PATH]

(b) the outbox's life, add+claim+complete: relay's Outbox (as bench/run_all.py drives it: one
    commit per 500 added, per claim and per complete, CSV bodies built and stored) against a
    hand-written sqlite3 outbox with the same batching and durability (bench/plain.py).
(a) the whole job, a folder of CSV files to the intake (the stub, its own process on loopback):
    relay as a site runs it, an agent watching an inbox with the files renamed into it (each file
    read, committed and moved while earlier rows are sent), timed from the agent's start until every
    file is processed and every item answered; the hand-written pipeline parses, hashes, inserts a
    file per transaction, then POSTs 500-row batches, one commit per answered batch. Both load their
    modules before the clock starts.
Each side runs in its own process; rounds alternate the sides (a shared, noisy machine) and the
medians are printed with their ratios, and for (a) each side's process CPU in the timed part (every
thread; the stub's own is apart). ``--before PATH``: a second relay tree (e.g. the commit
before a change, from ``git archive``) measured as a third side in the same rounds. Temporary
folders are removed. Figures only; nothing is asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if os.environ.get("RELAY_ROOT"):  # the tree whose relay a worker measures (--before)
    sys.path.insert(0, os.environ["RELAY_ROOT"])
sys.path.insert(1 if os.environ.get("RELAY_ROOT") else 0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
if os.environ.get("RELAY_ROOT"):
    import relay  # noqa: F401  (bound now: the bench modules imported later put ROOT first on the path)

TOKEN = "bench-token-0123456789"


def write_files(folder: Path, files: int, rows: int) -> None:
    from relay.samples import write_simple_report

    folder.mkdir(parents=True, exist_ok=True)
    for n in range(files):
        write_simple_report(folder / f"results-{n:03}.csv", rows, seed=7, start=n * rows)


def worker(job: str, side: str, work: Path, items: int, url: str | None, files: int) -> dict[str, float]:
    if job == "life":
        from run_all import outbox_side, payloads

        data = payloads(items)
        if side == "plain":
            from plain import plain_outbox_life
            from relay.hashing import RowCanonicalizer
            from relay.samples import SIMPLE_REPORT_COLUMNS

            columns = RowCanonicalizer(SIMPLE_REPORT_COLUMNS).columns
            return plain_outbox_life(work / "plain.db", [(h, v.lstrip("\x1f")) for h, v, _ in data], columns)
        return outbox_side(work, data)
    folder = work / "in"
    write_files(folder, files, items // files)
    assert url is not None
    # Each side's modules are loaded before the clock starts (httpx for the hand-written one; relay's
    # agent, config and reader for relay): a start-up cost paid once a process, not per folder.
    if side == "plain":
        import httpx  # noqa: F401
        from plain import plain_pipeline

        t0, c0 = time.perf_counter(), cpu_seconds()
        sent = plain_pipeline(folder, work / "plain.db", url, TOKEN)
        elapsed, cpu = time.perf_counter() - t0, cpu_seconds() - c0
    else:
        import relay.agent  # noqa: F401
        import relay.config  # noqa: F401
        import relay.ingest.files  # noqa: F401
        import relay.ingest.watcher  # noqa: F401

        t0, c0 = time.perf_counter(), cpu_seconds()
        relay_pipeline(folder, work, url)
        elapsed, cpu = time.perf_counter() - t0, cpu_seconds() - c0
        sent = relay_counts(work, files)
    if sent != items // files * files:
        raise SystemExit(f"{side} sent {sent} of {items // files * files} items")
    return {"total": elapsed, "sent": sent, "cpu": cpu}


def cpu_seconds() -> float:
    """CPU time of this process so far, every thread (user + system)."""
    return time.process_time()


def relay_pipeline(folder: Path, work: Path, url: str) -> None:
    """relay's own path for a folder: an agent watching an inbox, the files moved in (as a site's
    export or a person drops them: renamed in, so taken at once), each file read, committed and
    moved to processed/, its rows sent while later files are still read. Timed from the agent's
    start until every file is processed and every item sent."""
    from relay.agent import Agent
    from relay.config import from_dict
    from relay.store.outbox import Outbox

    inbox = work / "inbox"
    inbox.mkdir()
    files = sorted(folder.glob("*.csv"))
    cfg = from_dict({"intake": {"url": url, "batch_max_items": 500}, "store": {"path": str(work / "outbox.db")},
                     "listener": {"enabled": False}, "watch": [{"folder": str(inbox), "pattern": "*.csv"}]}, None)
    agent = Agent(cfg, token=lambda: TOKEN)
    agent.start()
    watcher = Outbox(cfg.store.path, readonly=True, check=False)
    try:
        for path in files:
            os.rename(path, inbox / path.name)
        # Done when no file is left in the inbox (a file leaves only after its rows are committed)
        # and no item is stored 'pending' (an item in a batch that is out stays 'pending' until its
        # answer). The look runs in relay's process, so it is kept light: os.scandir and one probe
        # of the state index every 20 ms.
        def done() -> bool:
            with os.scandir(inbox) as entries:
                if any(e.is_file() for e in entries):
                    return False
            return watcher.db.conn.execute("SELECT 1 FROM items WHERE state = 'pending' LIMIT 1").fetchone() is None

        while not done():
            time.sleep(0.02)
    finally:
        agent.stop()
        watcher.close()
    # what it sent is counted by relay_counts, once the clock has stopped


def relay_counts(work: Path, files: int) -> int:
    """What relay sent, read from its outbox once the timed run is over (a check, not its work)."""
    from relay.store.outbox import Outbox

    processed = len(list((work / "inbox" / "processed").glob("*.csv")))
    if processed != files:
        raise SystemExit(f"relay processed {processed} of {files} files")
    with Outbox(work / "outbox.db", readonly=True, check=False) as box:
        return box.count_items(state="sent")


def run_side(job: str, side: str, args: argparse.Namespace) -> dict[str, float]:
    env = dict(os.environ)
    if side == "before":
        env["RELAY_ROOT"] = str(Path(args.before).resolve())
    else:
        env.pop("RELAY_ROOT", None)
    with tempfile.TemporaryDirectory(prefix="relay-baselines-") as tmp:
        stub = None
        url = ""
        if job == "pipeline":
            from drain import start_stub

            stub, url = start_stub(Path(tmp))
        try:
            cmd = [sys.executable, __file__, "--worker", job, side, tmp, url, "--items", str(args.items),
                   "--files", str(args.files)]
            out = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT)
        finally:
            if stub is not None:
                stub.terminate()
                stub.wait(10)
    if out.returncode != 0:
        raise SystemExit(f"{job}/{side} failed:\n{out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--items", type=int, default=20_000)
    ap.add_argument("--files", type=int, default=10)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--only", default="life,pipeline")
    ap.add_argument("--before", help="another relay tree measured as a third side (before a change)")
    ap.add_argument("--worker", nargs=4, metavar=("JOB", "SIDE", "WORK", "URL"))
    args = ap.parse_args()
    if args.worker:
        job, side, work, url = args.worker
        print(json.dumps(worker(job, side, Path(work), args.items, url or None, args.files)))
        return
    sides = ["relay", "plain"] + (["before"] if args.before else [])
    for job in args.only.split(","):
        times: dict[str, list[float]] = {s: [] for s in sides}
        cpus: dict[str, list[float]] = {s: [] for s in sides}
        for round_no in range(args.rounds):
            order = sides if round_no % 2 == 0 else sides[::-1]
            for side in order:
                result = run_side(job, side, args)
                times[side].append(result["total"])
                if "cpu" in result:
                    cpus[side].append(result["cpu"])
                print(f"  {job} round {round_no + 1} {side}: {times[side][-1]:.2f} s", file=sys.stderr, flush=True)
        rate = {s: args.items / statistics.median(t) for s, t in times.items()}
        what = ("add+claim+complete, batches of 500 (b)" if job == "life"
                else f"folder -> intake, {args.files} files (a)")
        line = (f"{what}: relay {rate['relay']:,.0f} items/s, hand-written {rate['plain']:,.0f} items/s, "
                f"relay/hand-written {rate['relay'] / rate['plain']:.2f}x")
        if args.before:
            line += (f"; before {rate['before']:,.0f} items/s (before/hand-written "
                     f"{rate['before'] / rate['plain']:.2f}x, after/before {rate['relay'] / rate['before']:.2f}x)")
        print(f"{line} [{args.items:,} items, medians of {args.rounds} alternating rounds]", flush=True)
        if all(cpus.values()):  # the process's CPU in the timed part (the stub's own is apart)
            print("  CPU in the timed part: " + ", ".join(
                f"{s} {statistics.median(c):.2f} s ({statistics.median(c) / statistics.median(times[s]):.0%} of "
                f"its time, {statistics.median(c) / args.items * 1e6:.0f} µs an item)" for s, c in cpus.items()),
                flush=True)


if __name__ == "__main__":
    main()
