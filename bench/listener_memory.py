"""Local listener memory: peak RSS of `relay run` while large bodies are posted at once.

    .venv/bin/python bench/listener_memory.py [--mb 45] [--posts 6] [--format csv|json|ndjson]

Starts `relay run` (listener only, no intake) in a temporary folder, measures its resident memory
once it answers (the baseline), then posts ``--posts`` bodies of about ``--mb`` MB each at the same
time from threads of this process and reads the process's peak RSS (VmHWM, Linux) when all are
answered. Prints the peak above the baseline as a multiple of one body's size.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from relay.samples import simple_report_row  # noqa: E402

MAX_ITEMS = 10_000


def body(mb: float, kind: str, seed: int) -> bytes:
    """About ``mb`` MB in at most 10,000 results: rows padded with a long note."""
    rng = random.Random(seed)
    rows = [simple_report_row(rng, n) for n in range(MAX_ITEMS)]
    target = int(mb * 1_000_000)
    base = sum(len(",".join(r.values())) + 2 for r in rows)
    pad = max(0, (target - base) // MAX_ITEMS - 20)
    for n, row in enumerate(rows):
        row["Result_ID"] = f"mem-{seed}-{n}"
        row["Test_correction_reason"] = "x" * pad
    if kind == "json":
        return json.dumps(rows, ensure_ascii=False).encode()
    if kind == "ndjson":
        return b"\n".join(json.dumps(r, ensure_ascii=False).encode() for r in rows) + b"\n"
    cols = list(rows[0])
    lines = [",".join(cols)] + [",".join(r[c] for c in cols) for r in rows]
    return ("\r\n".join(lines) + "\r\n").encode()


def rss_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field} for {pid}")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--mb", type=float, default=45)
    ap.add_argument("--posts", type=int, default=6)
    ap.add_argument("--format", choices=("csv", "json", "ndjson"), default="csv")
    args = ap.parse_args()
    types = {"csv": "text/csv", "json": "application/json", "ndjson": "application/x-ndjson"}
    bodies = [body(args.mb, args.format, seed) for seed in range(args.posts)]
    size = len(bodies[0])
    with tempfile.TemporaryDirectory(prefix="relay-mem-") as tmp:
        folder = Path(tmp)
        port = 18000 + os.getpid() % 1000
        cfg = folder / "relay.toml"
        cfg.write_text(f'[store]\npath = "outbox.db"\n[listener]\nport = {port}\nmax_body_bytes = 209715200\n',
                       encoding="utf-8")
        env = {**os.environ, "RELAY_HOME": str(folder / "home"), "PYTHONPATH": str(ROOT)}
        proc = subprocess.Popen([sys.executable, "-m", "relay", "--config", str(cfg), "run"], env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            url = f"http://127.0.0.1:{port}"
            with httpx.Client(timeout=600) as http:
                for _ in range(600):
                    try:
                        if http.get(url + "/healthz").status_code in (200, 503):
                            break
                    except httpx.TransportError:
                        time.sleep(0.1)
                base = rss_kib(proc.pid, "VmRSS")
                answers: list[int] = []
                started = time.perf_counter()

                def post(data: bytes) -> None:
                    with httpx.Client(timeout=600) as own:
                        r = own.post(url + "/v1/results", content=data, headers={"content-type": types[args.format]})
                        answers.append(r.status_code)

                threads = [threading.Thread(target=post, args=(b,)) for b in bodies]
                for t in threads:
                    t.start()
                for t in threads:
                    t.join()
                took = time.perf_counter() - started
                peak = rss_kib(proc.pid, "VmHWM")
        finally:
            proc.terminate()
            proc.wait(60)
    above = (peak - base) * 1024
    print(f"listener memory: {args.posts} x {size / 1e6:.1f} MB {args.format} posts at once, answers {sorted(answers)}, "
          f"{took:.1f} s; baseline RSS {base / 1024:.0f} MB, peak {peak / 1024:.0f} MB: "
          f"{above / 1e6:.0f} MB above baseline = {above / size:.2f} x one body")
    return 0


if __name__ == "__main__":
    sys.exit(main())
