"""Benchmark of the desktop app on a large outbox: launch to populated window, and peak memory.

    .venv/bin/python bench/gui.py [--items 1000000] [--keep DIR] [--runs 3]

Builds an outbox of generated SimpleReport rows (never real data) straight into SQLite with
executemany in large transactions, writes a relay.toml pointing at it, then runs
``relay gui --screenshot`` in a fresh process (Qt offscreen) a few times and prints the wall time
from launch to exit, the in-process time to the populated window (from the app's log), and the
peak RSS of the process. Prints figures only; asserts nothing about time.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import re
import resource
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from relay.samples import SIMPLE_REPORT_COLUMNS, simple_report_row  # noqa: E402
from relay.store.outbox import Outbox  # noqa: E402

T0 = 1_767_225_600.0  # 2026-01-01T00:00:00Z
CHUNK = 50_000
ROWS_PER_FILE = 500
# How the million is spread over the states (the rest is sent).
MIX = (("pending", 0.30), ("failed", 0.004), ("dead", 0.001))


def _state_of(i: int, n: int) -> str:
    """Oldest items are sent; the newest are pending, with failed/dead sprinkled in between."""
    r = (i * 7919) % 1000 / 1000
    if i >= n * (1 - MIX[0][1]):
        return "pending"
    if r < MIX[1][1]:
        return "failed"
    if r < MIX[1][1] + MIX[2][1]:
        return "dead"
    return "sent"


def build_outbox(path: Path, n: int, *, seed: int = 7) -> float:
    """Create ``path`` with ``n`` items; returns seconds taken."""
    started = time.perf_counter()
    Outbox(path).close()  # schema and migrations exactly as relay makes them
    rng = random.Random(seed)
    templates = [simple_report_row(rng, k) for k in range(500)]
    result_id = SIMPLE_REPORT_COLUMNS.index("Result_ID")
    conn = sqlite3.connect(str(path), isolation_level=None)
    conn.execute("PRAGMA synchronous = OFF")
    conn.execute("BEGIN")
    columns = json.dumps(list(SIMPLE_REPORT_COLUMNS), separators=(",", ":"))
    conn.execute("INSERT INTO column_sets (id, key, columns) VALUES (1, ?, ?)",
                 (hashlib.sha256(columns.encode()).hexdigest(), columns))
    n_files = -(-n // ROWS_PER_FILE)
    conn.executemany(
        "INSERT INTO files (id, name, path, file_hash, size, source, outcome, rows_accepted, created_at) "
        "VALUES (?, ?, ?, ?, ?, 'watch', 'accepted', ?, ?)",
        ((f + 1, f"results_{f + 1:06d}.csv", f"/srv/lab/inbox/results_{f + 1:06d}.csv",
          hashlib.sha256(f"file{f}".encode()).hexdigest(), 380_000, ROWS_PER_FILE, T0 + f * ROWS_PER_FILE * 2.0)
         for f in range(n_files)))
    conn.execute("COMMIT")
    for start in range(0, n, CHUNK):
        rows = []
        for i in range(start, min(n, start + CHUNK)):
            values = list(templates[i % len(templates)].values())
            values[result_id] = f"{i:08x}-4f1c-4b7a-9d2e-{i * 2654435761 % 16**12:012x}"
            state = _state_of(i, n)
            created = T0 + i * 2.0
            f = i // ROWS_PER_FILE
            name = f"results_{f + 1:06d}.csv"
            error = None
            if state == "failed":
                error = "Patient_DOB: 'unknown' is not a valid date (field Patient_DOB)"
            elif state == "dead":
                error = "not delivered within 14 days"
            rows.append((
                state, "watch", name, f + 1, i % ROWS_PER_FILE + 2, "simple_report.default", values[result_id],
                hashlib.sha256(str(i).encode()).hexdigest(), 1, json.dumps(values, ensure_ascii=False,
                                                                            separators=(",", ":")),
                f"simple_report.default|1|{name}", 1 if state != "pending" else 0, created, None,
                200 if state == "sent" else 400 if state == "failed" else None, error,
                f"{i:032x}" if state == "sent" else None, created, created + 5,
                created + 5 if state == "sent" else None,
            ))
        conn.execute("BEGIN")
        conn.executemany(
            "INSERT INTO items (state, source, source_name, file_id, line, client, tracking_id, content_hash, "
            "column_set_id, payload, group_key, attempts, next_attempt_at, batch_id, last_status, last_error, "
            "receipt, created_at, updated_at, sent_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, "
            "?, ?, ?)", rows)
        conn.execute("COMMIT")
    conn.execute("INSERT INTO control (key, value) VALUES ('last_success_at', ?)", (repr(T0 + n * 2.0),))
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    return time.perf_counter() - started


def write_config(folder: Path, outbox: Path) -> Path:
    inbox = folder / "inbox"
    inbox.mkdir(exist_ok=True)
    cfg = folder / "relay.toml"
    cfg.write_text(
        "[intake]\nurl = \"http://127.0.0.1:9/api/waters\"\n"
        f"[store]\npath = {json.dumps(str(outbox))}\n"
        f"[[watch]]\nfolder = {json.dumps(str(inbox))}\n"
        "[listener]\nenabled = false\n",
        encoding="utf-8",
    )
    return cfg


POPULATED = re.compile(r"window populated in ([0-9.]+) s")


def launch(cfg: Path, png: Path, home: Path) -> tuple[float, float | None, int, str]:
    """One `relay gui --screenshot` in a fresh process: (wall s, populated s, exit code, stderr)."""
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "RELAY_HOME": str(home), "RELAY_TOKEN": "bench-token"}
    started = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "relay", "-v", "--config", str(cfg), "gui", "--screenshot",
                           str(png)], capture_output=True, text=True, env=env, cwd=ROOT, timeout=300)
    wall = time.perf_counter() - started
    m = POPULATED.search(proc.stderr)
    return wall, float(m.group(1)) if m else None, proc.returncode, proc.stderr


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--items", type=int, default=1_000_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--keep", metavar="DIR", help="build (or reuse) the outbox in DIR instead of a temporary folder")
    args = ap.parse_args()

    with tempfile.TemporaryDirectory(prefix="relay-bench-gui-") as tmp:
        folder = Path(args.keep).resolve() if args.keep else Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        outbox = folder / "outbox.db"
        if not outbox.exists():
            took = build_outbox(outbox, args.items)
            print(f"built outbox: {args.items:,} items, {outbox.stat().st_size / 1e6:,.0f} MB in {took:.1f} s "
                  f"({args.items / took:,.0f} items/s)")
        else:
            print(f"reusing outbox {outbox} ({outbox.stat().st_size / 1e6:,.0f} MB)")
        cfg = write_config(folder, outbox)
        walls, populated = [], []
        for run in range(args.runs):
            wall, ready, code, err = launch(cfg, folder / f"shot{run}.png", folder / "home")
            if code != 0:
                print(f"run {run + 1}: relay gui --screenshot failed with exit code {code}:\n{err}")
                return 1
            walls.append(wall)
            if ready is not None:
                populated.append(ready)
            print(f"run {run + 1}: launch to exit {wall:.2f} s; populated window {ready if ready is not None else '?'} s "
                  "after start of main()")
        peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        print(f"launch to exit (fresh interpreter, imports, agent start, first page, PNG, stop): "
              f"best {min(walls):.2f} s, median {sorted(walls)[len(walls) // 2]:.2f} s   (target < 1.5 s)")
        if populated:
            print(f"in-process, main() to populated window: best {min(populated):.2f} s")
        print(f"peak RSS of the app process: {peak_kb / 1024:.0f} MB   (target < 250 MB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
