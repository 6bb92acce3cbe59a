"""The MLLP listener with real clients: python-hl7's mllp_send and node-hl7-client, raw sockets."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from relay import samples_hl7
from relay.clock import FakeClock
from relay.config import MllpConfig
from relay.formats.hl7_ack import ack_code
from relay.ingest.mllp import MAX_FRAME, MllpListener, split_frames
from relay.store.outbox import Outbox

ROOT = Path(__file__).resolve().parents[3]
NODE_PEER = ROOT / "tests" / "peers" / "node"
MLLP_SEND = Path(sys.executable).with_name("mllp_send")


@pytest.fixture
def rig(tmp_path):
    box = Outbox(tmp_path / "o.db")
    notified: list[int] = []
    listener = MllpListener(box, MllpConfig(enabled=True, port=0), client="lab.one", clock=FakeClock(),
                            notify=lambda: notified.append(1))
    listener.start()
    yield box, listener
    listener.stop()
    box.close()


def counts(box):
    c = box.counts()
    return c.by_state["pending"], c.duplicates


def exchange(port: int, payload: bytes, acks: int = 1) -> list[bytes]:
    """Send ``payload`` on one connection and read ``acks`` framed answers."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(payload)
        buf = b""
        out: list[bytes] = []
        while len(out) < acks:
            data = sock.recv(65536)
            assert data, "the listener closed the connection"
            buf += data
            while b"\x1c\r" in buf:
                frame, buf = buf.split(b"\x1c\r", 1)
                out.append(frame.lstrip(b"\x0b"))
        return out


# -- framing ---------------------------------------------------------------------------------------


def test_frames_split_across_reads_with_junk_between_them():
    frames_in = [samples_hl7.frame(samples_hl7.message(n)) for n in range(3)]
    stream = b"\x00\r\n" + frames_in[0] + b"\r\n\x00junk" + frames_in[1] + frames_in[2] + b"\n"
    for size in (1, 5, 100, len(stream)):
        pieces = iter([stream[i:i + size] for i in range(0, len(stream), size)] + [b""])
        got = list(split_frames(lambda _n, it=pieces: next(it), threading.Event()))
        assert got == [f[1:-2] for f in frames_in], size


def test_a_frame_over_16_mb_is_skipped_and_the_next_one_read():
    big = b"\x0bMSH|" + b"x" * (MAX_FRAME + 10) + b"\x1c\r"
    nxt = samples_hl7.frame(samples_hl7.message(1))
    stream = big + nxt
    pieces = iter([stream[i:i + 1_000_000] for i in range(0, len(stream), 1_000_000)] + [b""])
    got = list(split_frames(lambda _n: next(pieces), threading.Event()))
    assert got == [None, nxt[1:-2]]


# -- the listener ------------------------------------------------------------------------------------


def test_every_message_gets_aa_with_its_control_id_after_it_is_stored(rig):
    box, listener = rig
    payload = b"".join(samples_hl7.frame(samples_hl7.message(n)) for n in range(5))
    answers = exchange(listener.port, payload, acks=5)
    assert [ack_code(a) for a in answers] == [("AA", f"1-{n}") for n in range(5)]
    msh = answers[0].split(b"\r")[0].decode()
    fields = msh.split("|")
    assert fields[2:4] == ["relay", "lab.one"] and fields[8] == "ACK^R01^ACK" and fields[10:12] == ["P", "2.5.1"]
    assert fields[4].startswith("Demo Lab")  # MSH-3 of the message answered
    assert counts(box) == (5, 0)
    assert {i.source for i in box.list_items(limit=10)} == {"mllp"}


def test_a_batch_frame_is_stored_whole_and_answered_once_with_the_batch_id(rig):
    box, listener = rig
    batch = samples_hl7.batch([samples_hl7.message(n) for n in range(4)], batch_id="BATCH-42")
    answers = exchange(listener.port, samples_hl7.frame(batch) + samples_hl7.frame(samples_hl7.message(9)), acks=2)
    assert [ack_code(a) for a in answers] == [("AA", "BATCH-42"), ("AA", "1-9")]
    assert counts(box) == (5, 0)


def test_a_batch_with_a_bad_message_is_refused_whole(rig):
    box, listener = rig
    batch = samples_hl7.batch([samples_hl7.message(1), "MSH|^~\\&|A|B|||2024||", samples_hl7.message(2)])
    [answer] = exchange(listener.port, samples_hl7.frame(batch))
    assert ack_code(answer)[0] == "AR" and b"ERR|" in answer and b"MSH-9" in answer
    assert counts(box) == (0, 0)


def test_garbage_gets_ar_with_err_and_the_connection_goes_on(rig):
    box, listener = rig
    answers = exchange(listener.port, samples_hl7.frame("GET / HTTP/1.1") + b"\x0b\xff\xfe\x1c\r"
                       + samples_hl7.frame(samples_hl7.message(1)), acks=3)
    assert [ack_code(a)[0] for a in answers] == ["AR", "AR", "AA"]
    assert all(b"\rERR|" in a for a in answers[:2])
    assert counts(box) == (1, 0)


def test_ae_when_the_outbox_cannot_accept(rig):
    box, listener = rig
    box.db.conn.execute("PRAGMA query_only = ON")  # every write now fails like a read-only outbox
    [answer] = exchange(listener.port, samples_hl7.frame(samples_hl7.message(1)))
    assert ack_code(answer) == ("AE", "1-1") and b"ERR|" in answer
    box.db.conn.execute("PRAGMA query_only = OFF")
    [answer] = exchange(listener.port, samples_hl7.frame(samples_hl7.message(1)))
    assert ack_code(answer) == ("AA", "1-1") and counts(box) == (1, 0)


def test_allow_from_is_checked_per_connection(tmp_path):
    listener = MllpListener(Outbox(tmp_path / "o.db"), MllpConfig(allow_from=("10.1.2.0/24", "192.168.5.7")),
                            client="c", clock=FakeClock(), notify=lambda: None)
    assert listener.allowed("127.0.0.1") and listener.allowed("::1")
    assert listener.allowed("10.1.2.200") and listener.allowed("192.168.5.7")
    assert not listener.allowed("10.1.3.1") and not listener.allowed("192.168.5.8")


def test_http_bodies_are_not_taken_for_hl7(rig):
    box, listener = rig
    with socket.create_connection(("127.0.0.1", listener.port), timeout=10) as sock:
        sock.sendall(b"POST / HTTP/1.1\r\nHost: x\r\n\r\n")
        sock.shutdown(socket.SHUT_WR)
        assert sock.recv(100) == b""  # no frame, no answer: junk between frames
    assert counts(box) == (0, 0)


# -- real clients nobody here wrote ---------------------------------------------------------------


@pytest.mark.skipif(not MLLP_SEND.exists(), reason="python-hl7's mllp_send is not installed in this venv")
def test_python_hl7_mllp_send(rig, tmp_path):
    box, listener = rig
    first = [samples_hl7.frame(samples_hl7.message(n)) for n in range(10)]
    resent = [samples_hl7.frame(samples_hl7.message(n, control_id=f"re-{n}")) for n in range(3)]
    path = tmp_path / "messages.mllp"
    path.write_bytes(b"".join(first + resent) + samples_hl7.frame("this is not HL7"))
    run = subprocess.run([str(MLLP_SEND), "-p", str(listener.port), "-f", str(path), "127.0.0.1"],
                         capture_output=True, timeout=60)
    assert run.returncode == 0, run.stderr
    answers = [a for a in run.stdout.split(b"\x1c") if b"MSA" in a]
    codes = [ack_code(a) for a in answers]
    assert codes[:13] == [("AA", f"1-{n}") for n in range(10)] + [("AA", f"re-{n}") for n in range(3)]
    assert codes[13][0] == "AR"
    assert counts(box) == (10, 3)


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_node_hl7_client(rig, tmp_path):
    if not (NODE_PEER / "node_modules" / "node-hl7-client").is_dir():
        pytest.skip("node-hl7-client is not installed (npm ci in tests/peers/node; scripts/ci-deps.sh does it)")
    box, listener = rig
    texts = [samples_hl7.message(n, seed=2) for n in range(8)]
    texts += [samples_hl7.message(n, seed=2, control_id=f"node-re-{n}") for n in range(2)]
    path = tmp_path / "messages.json"
    path.write_text(json.dumps(texts))
    run = subprocess.run(["node", str(NODE_PEER / "send.js"), str(listener.port), str(path)],
                         capture_output=True, timeout=120, cwd=NODE_PEER)
    assert run.returncode == 0, run.stderr
    lines = run.stdout.decode().split("\n")[:-1]
    assert lines == [f"AA 2-{n}" for n in range(8)] + [f"AA node-re-{n}" for n in range(2)]
    assert counts(box) == (8, 2)


@pytest.mark.skipif(not MLLP_SEND.exists(), reason="python-hl7's mllp_send is not installed in this venv")
def test_python_hl7_mllp_send_loose_with_a_plain_crlf_file(rig, tmp_path):
    box, listener = rig
    path = tmp_path / "lab.hl7"  # a plain export, CRLF line ends, no framing: mllp_send --loose frames it
    path.write_bytes("\r\n".join(samples_hl7.message(n, seed=8) for n in range(6)).replace("\r", "\r\n")
                     .replace("\r\r\n", "\r\n").encode())
    run = subprocess.run([str(MLLP_SEND), "--loose", "-p", str(listener.port), "-f", str(path), "127.0.0.1"],
                         capture_output=True, timeout=60)
    assert run.returncode == 0, run.stderr
    codes = [ack_code(a) for a in run.stdout.split(b"\x1c") if b"MSA" in a]
    assert codes == [("AA", f"8-{n}") for n in range(6)]
    assert counts(box) == (6, 0)
