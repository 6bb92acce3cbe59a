"""Benchmark of the desktop app on a large outbox: launch to populated window, and peak memory.

    .venv/bin/python bench/gui.py [--items 1000000] [--keep DIR] [--runs 3]

Builds an outbox of generated SimpleReport rows (never real data) straight into SQLite with
executemany in large transactions, in relay's own storage format, writes a relay.toml pointing at
it, then runs ``relay gui --screenshot`` in a fresh process (Qt offscreen) a few times. Prints,
from the process's launch: when the window was populated (read from the app's log as it is
written), when the agent had started, when the process exited; and the process's peak RSS
(its VmHWM, Linux).
Prints figures only; asserts nothing about time.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import re
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from relay.hashing import RowCanonicalizer  # noqa: E402
from relay.samples import SIMPLE_REPORT_COLUMNS, simple_report_row  # noqa: E402
from relay.store.outbox import Outbox  # noqa: E402

CHUNK = 50_000
SPACING_S = 0.5  # a million results over the last ~6 days: none old enough to expire
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
    """Create ``path`` with ``n`` items stored as relay stores CSV rows (canonical column order,
    encoded values); returns seconds taken."""
    started = time.perf_counter()
    t0 = time.time() - n * SPACING_S
    Outbox(path).close()  # schema and migrations exactly as relay makes them
    rng = random.Random(seed)
    canon = RowCanonicalizer(SIMPLE_REPORT_COLUMNS)
    rid = canon.columns.index("Result_ID")
    marker = "\x00RID\x00"
    templates = []
    for k in range(500):  # payloads of 500 generated rows, each with its own Result_ID slot
        row = simple_report_row(rng, k)
        row["Result_ID"] = marker
        encoded, _ = canon(list(row.values()))
        templates.append(encoded.split(marker))
    assert all(len(t) == 2 for t in templates) and rid >= 0
    conn = sqlite3.connect(str(path), isolation_level=None)
    conn.execute("PRAGMA synchronous = OFF")
    conn.execute("PRAGMA cache_size = -262144")
    conn.execute("BEGIN")
    columns = json.dumps(list(canon.columns), ensure_ascii=False, separators=(",", ":"))
    conn.execute("INSERT INTO column_sets (id, key, columns) VALUES (1, ?, ?)",
                 (hashlib.sha256(columns.encode()).hexdigest(), columns))
    n_files = -(-n // ROWS_PER_FILE)
    conn.executemany(
        "INSERT INTO files (id, name, path, file_hash, size, source, outcome, rows_accepted, created_at) "
        "VALUES (?, ?, ?, ?, ?, 'watch', 'accepted', ?, ?)",
        ((f + 1, f"results_{f + 1:06d}.csv", f"/srv/lab/inbox/results_{f + 1:06d}.csv",
          hashlib.sha256(f"file{f}".encode()).hexdigest(), 380_000, ROWS_PER_FILE, t0 + f * ROWS_PER_FILE * SPACING_S)
         for f in range(n_files)))
    conn.execute("COMMIT")
    errors = {"failed": "Patient_DOB: '19450231' is not a valid date (field Patient_DOB)",
              "dead": "not delivered within 14 days"}
    for start in range(0, n, CHUNK):
        rows, payloads = [], []
        for i in range(start, min(n, start + CHUNK)):
            result_id = f"{i:08x}-4f1c-4b7a-9d2e-{i * 2654435761 % 16**12:012x}"
            head, tail = templates[i % len(templates)]
            state = _state_of(i, n)
            created = t0 + i * SPACING_S
            f = i // ROWS_PER_FILE
            name = f"results_{f + 1:06d}.csv"
            payloads.append((i + 1, head + result_id + tail))
            rows.append((
                i + 1, state, "watch", name, f + 1, i % ROWS_PER_FILE + 2, "simple_report.default", result_id,
                hashlib.sha256(result_id.encode()).hexdigest(), 1,
                f"simple_report.default|1|{name}", 1 if state != "pending" else 0, created, None,
                200 if state == "sent" else 400 if state == "failed" else None, errors.get(state),
                f"{i:032x}" if state == "sent" else None, created, created + 5,
                created + 5 if state == "sent" else None,
            ))
        conn.execute("BEGIN")
        conn.executemany(
            "INSERT INTO items (id, state, source, source_name, file_id, line, client, tracking_id, content_hash, "
            "column_set_id, group_key, attempts, next_attempt_at, batch_id, last_status, last_error, "
            "receipt, created_at, updated_at, sent_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, "
            "?, ?, ?)", rows)
        conn.executemany("INSERT INTO payloads (item_id, payload) VALUES (?, ?)", payloads)
        conn.execute("COMMIT")
    last_sent = max(i for i in range(max(0, int(n * 0.69)), int(n * 0.70)) if _state_of(i, n) == "sent")
    conn.execute("INSERT INTO control (key, value) VALUES ('last_success_at', ?)",
                 (repr(t0 + last_sent * SPACING_S + 5),))
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
READY = re.compile(r"agent started and window up to date in ([0-9.]+) s")


@dataclass
class Run:
    code: int
    populated: float | None  # launch (process spawn) to the populated window
    populated_in_main: float | None  # main() entry to the populated window, as the app logs it
    ready: float | None  # launch to agent started and window up to date
    exit: float  # launch to process exit (PNG written, agent stopped)
    peak_rss_mb: float | None  # the process's own high-water mark (VmHWM, counted from its exec)
    log: str


def launch(cfg: Path, png: Path, home: Path) -> Run:
    """One `relay gui --screenshot` in a fresh process, its log read as it comes."""
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "RELAY_HOME": str(home), "RELAY_TOKEN": "bench-token"}
    started = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "relay", "-v", "--config", str(cfg), "gui", "--screenshot",
                             str(png)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env,
                            cwd=ROOT)
    populated = ready = in_main = None
    lines = []
    peak: list[float] = []

    def watch_memory() -> None:
        # Not getrusage(RUSAGE_CHILDREN): a forked child counts this process's memory until its exec.
        status = Path(f"/proc/{proc.pid}/status")
        while proc.poll() is None:
            try:
                hwm = next(line for line in status.read_text().splitlines() if line.startswith("VmHWM"))
                peak.append(int(hwm.split()[1]) / 1024)
            except (OSError, StopIteration):
                pass
            time.sleep(0.05)

    watcher = threading.Thread(target=watch_memory, daemon=True)
    watcher.start()
    assert proc.stderr is not None
    for line in proc.stderr:
        lines.append(line)
        if populated is None and (m := POPULATED.search(line)):
            populated, in_main = time.perf_counter() - started, float(m.group(1))
        if ready is None and READY.search(line):
            ready = time.perf_counter() - started
    code = proc.wait()
    watcher.join()
    return Run(code, populated, in_main, ready, time.perf_counter() - started, max(peak, default=None),
               "".join(lines))


def _s(value: float | None) -> str:
    return f"{value:.2f} s" if value is not None else "?"


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
        runs = []
        for n in range(args.runs):
            run = launch(cfg, folder / f"shot{n}.png", folder / "home")
            if run.code != 0:
                print(f"run {n + 1}: relay gui --screenshot failed with exit code {run.code}:\n{run.log}")
                return 1
            runs.append(run)
            print(f"run {n + 1}: populated window {_s(run.populated)} after launch ({_s(run.populated_in_main)} "
                  f"after main()); agent ready {_s(run.ready)}; exit {run.exit:.2f} s; peak RSS "
                  f"{run.peak_rss_mb or 0:.0f} MB")
        peaks = [r.peak_rss_mb for r in runs if r.peak_rss_mb is not None]
        populated = sorted(r.populated for r in runs if r.populated is not None)
        if populated:
            print(f"launch to populated window (fresh interpreter, imports, first page and counts on screen): "
                  f"best {populated[0]:.2f} s, median {populated[len(populated) // 2]:.2f} s   (target < 1.5 s)")
        ready = sorted(r.ready for r in runs if r.ready is not None)
        if ready:
            print(f"launch to agent started (includes the outbox's integrity check): median "
                  f"{ready[len(ready) // 2]:.2f} s")
        if peaks:
            print(f"peak RSS of the app process: {max(peaks):.0f} MB   (target < 250 MB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
