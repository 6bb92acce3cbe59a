"""MLLP listener benchmark: durable HL7 messages per second with 1 and 8 kept-open connections.

    .venv/bin/python bench/mllp.py [--seconds 8] [--connections 1,8]

Starts `relay run` (a real agent process: MLLP listener on 127.0.0.1, no intake, a fresh outbox
with WAL and synchronous=FULL) in a temporary folder. Each connection is a thread of this process
sending one generated ELR message (ORU^R01, ~1.6 KB, unique content) at a time and waiting for its
ACK, as LIS senders do; an AA means the message is durably committed. Beside it, in the same run,
the durable-commit floor: one message a transaction written straight into an outbox, no network.
Prints messages/s, p50/p99 ACK latency, commits/s of the floor, and the agent's peak RSS.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from relay import samples_hl7  # noqa: E402
from relay.formats.hl7 import read_hl7_bytes  # noqa: E402
from relay.formats.hl7_ack import ack_code  # noqa: E402
from relay.store.outbox import Outbox  # noqa: E402


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_agent(work: Path, port: int) -> subprocess.Popen[bytes]:
    cfg = work / "relay.toml"
    cfg.write_text(f'[store]\npath = "outbox.db"\n[listener]\nenabled = false\n'
                   f'[mllp]\nenabled = true\nport = {port}\n', encoding="utf-8")
    env = {**os.environ, "RELAY_HOME": str(work / "home")}
    proc = subprocess.Popen([sys.executable, "-m", "relay", "--config", str(cfg), "run"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return proc
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise SystemExit("the agent did not start listening")


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def run(port: int, connections: int, seconds: float, seed: int, per_connection: int) -> tuple[int, list[float], int]:
    """Messages are made before the clock starts (this process shares the machine with the agent)."""
    frames = [[samples_hl7.frame(samples_hl7.message(i * 10_000_000 + n, seed=seed)) for n in range(per_connection)]
              for i in range(connections)]
    latencies: list[list[float]] = [[] for _ in range(connections)]
    bad = [0]
    stop_at = time.monotonic() + seconds

    def client(index: int) -> None:
        with socket.create_connection(("127.0.0.1", port)) as sock:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            for frame in frames[index]:
                if time.monotonic() >= stop_at:
                    break
                started = time.perf_counter()
                sock.sendall(frame)
                buf = b""
                while b"\x1c\r" not in buf:
                    data = sock.recv(65536)
                    if not data:
                        raise SystemExit("the listener closed a connection")
                    buf += data
                latencies[index].append(time.perf_counter() - started)
                if ack_code(buf)[0] != "AA":
                    bad[0] += 1

    threads = [threading.Thread(target=client, args=(i,)) for i in range(connections)]
    began = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - began
    flat = [x for per in latencies for x in per]
    return int(len(flat) / elapsed), flat, bad[0]


def commit_floor(work: Path, seconds: float) -> tuple[int, float]:
    """One message per durable transaction, straight into an outbox: commits/s and the median ms."""
    items = [r.item for r in read_hl7_bytes(samples_hl7.message(0, seed=99).encode())[1]]  # type: ignore[union-attr]
    with Outbox(work / "floor.db") as box:
        times = []
        stop_at = time.monotonic() + seconds
        n = 0
        while time.monotonic() < stop_at:
            item = items[0].__class__(**{**{f: getattr(items[0], f) for f in items[0].__slots__},
                                         "content_hash": f"{n:064d}"})
            started = time.perf_counter()
            box.add_items([item], source="bench", client="c", now=time.time())
            times.append(time.perf_counter() - started)
            n += 1
    return int(len(times) / seconds), percentile(times, 50) * 1000


def parse_speed(count: int = 2000) -> tuple[float, float]:
    """µs per message: python-hl7's hl7.parse (the whole tree) against relay's reader (items and hash)."""
    import hl7

    texts = [samples_hl7.message(n, seed=7) for n in range(count)]
    started = time.perf_counter()
    for text in texts:
        hl7.parse(text)
    theirs = (time.perf_counter() - started) / count * 1e6
    data = [t.encode() for t in texts]
    started = time.perf_counter()
    for raw in data:
        read_hl7_bytes(raw)
    ours = (time.perf_counter() - started) / count * 1e6
    return theirs, ours


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--connections", default="1,8")
    parser.add_argument("--max-rate", type=float, default=2500.0, help="messages/s made ready in advance")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="relay-bench-mllp-") as tmp:
        work = Path(tmp)
        theirs, ours = parse_speed()
        print(f"parsing one message (~1.6 KB): python-hl7 hl7.parse {theirs:.0f} µs, relay's reader with its hash "
              f"{ours:.0f} µs ({theirs / ours:.0f}x)")
        floor, floor_ms = commit_floor(work, args.seconds / 2)
        print(f"durable-commit floor: {floor:,} commits/s (one message a transaction, median {floor_ms:.2f} ms)")
        port = free_port()
        agent = start_agent(work, port)
        try:
            for seed, conns in enumerate(int(c) for c in args.connections.split(",")):
                rate, lat, bad = run(port, conns, args.seconds, seed + 1,
                                     int(args.max_rate * args.seconds / conns) + 1)
                print(f"MLLP {conns} connection(s): {rate:,} messages/s durable "
                      f"({rate / floor:.2f}x the floor), ACK p50 {percentile(lat, 50) * 1000:.1f} ms, "
                      f"p99 {percentile(lat, 99) * 1000:.1f} ms, {len(lat):,} messages, {bad} not AA")
            print(f"agent peak RSS: {peak_rss_mb(agent.pid):.0f} MB")
        finally:
            agent.terminate()
            agent.wait(30)
        with Outbox(work / "outbox.db") as box:
            print(f"outbox holds {box.count_items():,} items")


if __name__ == "__main__":
    main()
