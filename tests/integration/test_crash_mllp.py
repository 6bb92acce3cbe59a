"""`relay run` with the MLLP listener, killed with SIGKILL while HL7 messages stream in on several
connections: every message whose AA a sender saw is in the outbox exactly once and reaches the
stub exactly once; a message without an AA is there once or not at all (its resend is a duplicate)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
from collections import Counter

import pytest

from relay import samples_hl7
from relay.formats.hl7 import read_hl7_bytes
from relay.formats.hl7_ack import ack_code
from relay.store.outbox import Outbox
from tests.helpers.stub_server import stub_server
from tests.helpers.waiting import wait_until

TOKEN = "crash-test-token-0123456789"
CONNECTIONS = 4


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_agent(tmp_path, url: str, port: int) -> subprocess.Popen[bytes]:
    cfg = tmp_path / "relay.toml"
    cfg.write_text(
        f'[intake]\nurl = "{url}"\nbatch_max_items = 50\ntimeout_s = 5\n'
        '[store]\npath = "outbox.db"\n[listener]\nenabled = false\n'
        f'[mllp]\nenabled = true\nhost = "127.0.0.1"\nport = {port}\n'
        "[delivery]\nretry_initial_s = 0.05\nretry_max_s = 0.3\n", encoding="utf-8")
    env = {**os.environ, "RELAY_TOKEN": TOKEN, "RELAY_HOME": str(tmp_path / "home")}
    return subprocess.Popen([sys.executable, "-m", "relay", "--config", str(cfg), "run"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def listening(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False


class Sender:
    """One kept-open connection sending messages one by one, each after the previous ACK."""

    def __init__(self, port: int, messages: list[tuple[int, str]], acked: set[int], lock: threading.Lock) -> None:
        self.port, self.messages, self.acked, self.lock = port, messages, acked, lock
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self) -> None:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=30) as sock:
                for n, text in self.messages:
                    sock.sendall(samples_hl7.frame(text))
                    buf = b""
                    while b"\x1c\r" not in buf:
                        data = sock.recv(65536)
                        if not data:
                            return
                        buf += data
                    if ack_code(buf)[0] == "AA":
                        with self.lock:
                            self.acked.add(n)
        except OSError:
            return  # the agent was killed


def content_hash(text: str) -> str:
    return read_hl7_bytes(text.encode())[1][0].item.content_hash  # type: ignore[union-attr]


@pytest.mark.slow
def test_sigkill_while_messages_stream_in(tmp_path):
    acked: set[int] = set()
    lock = threading.Lock()
    sent: set[int] = set()
    hashes: dict[str, int] = {}
    next_n = 0
    with stub_server(token=TOKEN) as stub:
        port = free_port()
        for round_no in range(4):
            proc = start_agent(tmp_path, stub.url, port)
            try:
                wait_until(lambda: listening(port) or proc.poll() is not None, timeout=60)
                assert proc.poll() is None
                unacked = sorted(sent - acked)  # a real sender sends again what got no AA
                fresh = list(range(next_n, next_n + 400))
                next_n += 400
                plan = [(n, samples_hl7.message(n, seed=9, control_id=f"r{round_no}-{n}")) for n in unacked + fresh]
                for n, text in plan:
                    hashes[content_hash(text)] = n
                sent.update(n for n, _ in plan)
                senders = [Sender(port, plan[i::CONNECTIONS], acked, lock) for i in range(CONNECTIONS)]
                for s in senders:
                    s.thread.start()
                target = len(acked) + 150
                wait_until(lambda: len(acked) >= target or not any(s.thread.is_alive() for s in senders),
                           timeout=60)
            finally:
                proc.send_signal(signal.SIGKILL)
                proc.wait()
            for s in senders:
                s.thread.join(30)
        assert sent - acked, "every message was acknowledged before the kills; the test proved nothing"

        with Outbox(tmp_path / "outbox.db", check=True) as box:
            stored = Counter(r[0] for r in box.db.conn.execute("SELECT content_hash FROM items"))
        by_n = Counter(hashes[h] for h in stored.elements())
        assert all(by_n[n] == 1 for n in acked), "a message the sender saw acknowledged is missing or doubled"
        assert all(by_n[n] <= 1 for n in sent)
        assert set(by_n) <= sent

        proc = start_agent(tmp_path, stub.url, port)  # a last run delivers everything
        try:
            wait_until(lambda: stub.stats()["unique_items"] >= len(by_n), timeout=120)
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=30)
        stats = stub.stats()
    assert stats["unique_items"] == len(by_n) and stats["duplicates_received"] == 0
    assert stats["accepted_items"] == len(by_n)
