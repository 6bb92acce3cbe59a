"""Drain figures of the s3://, sftp:// and mllp:// destinations against real servers on loopback.

    .venv/bin/python bench/destinations.py [--batches 200] [--rows 100] [--messages 2000]

Each transport: items/s through ``deliver()`` (the destination as the sender calls it, one thread),
and the loopback server's own floor measured in the same run with the same payloads and a bare
client loop (S3: unsigned keep-alive PUTs with http.client to moto's server; SFTP: one paramiko
session writing each file, no .part, no stat, no rename; MLLP: one socket sending a frame and
reading its ACK). The ratio destination ÷ floor is the figure to watch. Figures only.
"""

from __future__ import annotations

import argparse
import http.client
import logging
import resource
import socket
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from relay.delivery.destinations import open_destination  # noqa: E402
from tests.destinations.mllp_peer import ack, mllp_receiver  # noqa: E402
from tests.destinations.sshd import start_sshd, stop_sshd  # noqa: E402
from tests.destinations.support import make_batch, make_config, make_context, no_tracking  # noqa: E402


def csv_body(rows: int, n: int) -> bytes:
    lines = ["Result_ID,Patient_last_name,Patient_first_name,Test_result_code,Specimen_collection_date"]
    lines += [f"r-{n}-{i},Doe{i},Jane,260415000,20260101" for i in range(rows)]
    return ("\r\n".join(lines) + "\r\n").encode()


def rate(items: int, seconds: float) -> float:
    return items / seconds if seconds > 0 else float("inf")


def line(name: str, relay_rate: float, floor: float, unit: str = "items/s") -> None:
    print(f"{name:<8} deliver(): {relay_rate:>9,.0f} {unit}   floor: {floor:>9,.0f} {unit}   "
          f"ratio {relay_rate / floor:.2f}")


def bench_s3(work: Path, batches: int, rows: int) -> None:
    import boto3
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's server logs every request
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    url = f"http://{host}:{port}"
    try:
        boto3.client("s3", endpoint_url=url, region_name="us-east-1", aws_access_key_id="a",
                     aws_secret_access_key="b").create_bucket(Bucket="bench")
        bodies = [csv_body(rows, n) for n in range(batches)]
        conn = http.client.HTTPConnection(host, port)
        start = time.perf_counter()
        for n, body in enumerate(bodies):
            conn.request("PUT", f"/bench/floor/{n}.csv", body=body, headers={"Content-Type": "text/csv"})
            conn.getresponse().read()
        floor = rate(batches * rows, time.perf_counter() - start)
        conn.close()
        config = make_config(work, {"url": "s3://bench/relay", "s3": {"region": "us-east-1", "endpoint_url": url,
                                                                     "access_key_id": "a", "sse": "AES256"}})
        dest = open_destination(make_context(config, "b"))
        start = time.perf_counter()
        for n, body in enumerate(bodies):
            assert dest.deliver(make_batch(body, key=f"k-{n}", items=rows), no_tracking).kind == "delivered"
        line("s3", rate(batches * rows, time.perf_counter() - start), floor)
        dest.close()
    finally:
        server.stop()


def bench_sftp(work: Path, batches: int, rows: int) -> None:
    import paramiko

    sshd = start_sshd(work / "sshd")
    drop = work / "drop"
    drop.mkdir()
    try:
        bodies = [csv_body(rows, n) for n in range(batches)]
        transport = paramiko.Transport(socket.create_connection(("127.0.0.1", sshd.port)))
        transport.connect(username=sshd.user, pkey=paramiko.Ed25519Key.from_private_key_file(str(sshd.client_key)))
        sftp = paramiko.SFTPClient.from_transport(transport)
        assert sftp is not None
        start = time.perf_counter()
        for n, body in enumerate(bodies):
            with sftp.open(f"{drop}/floor-{n}.csv", "wb") as fh:
                fh.set_pipelined(True)
                fh.write(body)
        floor = rate(batches * rows, time.perf_counter() - start)
        sftp.close()
        transport.close()
        config = make_config(work, {"url": f"sftp://{sshd.user}@127.0.0.1:{sshd.port}{drop}", "auth": "none",
                                    "sftp": {"host_key_sha256": sshd.pin(), "key_file": str(sshd.client_key)}})
        dest = open_destination(make_context(config))
        start = time.perf_counter()
        for n, body in enumerate(bodies):
            assert dest.deliver(make_batch(body, key=f"k-{n}", items=rows), no_tracking).kind == "delivered"
        line("sftp", rate(batches * rows, time.perf_counter() - start), floor)
        dest.close()
    finally:
        stop_sshd(sshd)


def bench_mllp(work: Path, messages: int) -> None:
    template = (b"MSH|^~\\&|relay|Lab|AIMS|AIMS|20260101000000||ORU^R01^ORU_R01|ctl-%d|P|2.5.1\r"
                b"PID|1||p-1^^^Lab^PI||Doe^Jane\rOBX|1|CWE|94500-6^SARS-CoV-2 RNA^LN||260415000^Not detected^SCT\r")
    bodies = [template.replace(b"%d", str(n).encode()) for n in range(messages)]
    with mllp_receiver(lambda m: ack(m, "AA")) as peer:
        sock = socket.create_connection(("127.0.0.1", peer.port))
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        start = time.perf_counter()
        for body in bodies:
            sock.sendall(b"\x0b" + body + b"\x1c\x0d")
            answer = b""
            while not answer.endswith(b"\x1c\x0d"):
                answer += sock.recv(65536)
        floor = rate(messages, time.perf_counter() - start)
        sock.close()
        dest = open_destination(make_context(make_config(work, {"url": f"mllp://127.0.0.1:{peer.port}",
                                                                "auth": "none"})))
        start = time.perf_counter()
        for n, body in enumerate(bodies):
            batch = make_batch(body, key=f"k-{n}", content_type="application/hl7-v2", items=1)
            assert dest.deliver(batch, no_tracking).kind == "delivered"
        line("mllp", rate(messages, time.perf_counter() - start), floor, "msgs/s")
        dest.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batches", type=int, default=200, help="S3 objects / SFTP files")
    parser.add_argument("--rows", type=int, default=100, help="CSV rows a batch")
    parser.add_argument("--messages", type=int, default=2000, help="MLLP messages")
    args = parser.parse_args()
    print(f"{args.batches} batches of {args.rows} rows (S3, SFTP); {args.messages} HL7 messages (MLLP), one thread")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for name, run in (("s3", lambda: bench_s3(work / "s3", args.batches, args.rows)),
                          ("sftp", lambda: bench_sftp(work / "sftp", args.batches, args.rows)),
                          ("mllp", lambda: bench_mllp(work / "mllp", args.messages))):
            (work / name).mkdir()
            run()
    print(f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.1f} MB")


if __name__ == "__main__":
    main()
