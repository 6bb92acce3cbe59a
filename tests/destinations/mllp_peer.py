"""A small real MLLP receiver on loopback: reads frames, answers each with the ACK a chosen
behaviour makes (AA, AE, AR with ERR, a wrong MSA-2, nothing, or a closed connection), and keeps
what it received. Optionally over TLS."""

from __future__ import annotations

import socket
import ssl
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

START, END = b"\x0b", b"\x1c\x0d"


def msh10(message: bytes) -> str:
    return message.split(b"\r", 1)[0].split(b"|")[9].decode()


def ack(message: bytes, code: str, control_id: str | None = None, err: str | None = None) -> bytes:
    cid = msh10(message) if control_id is None else control_id
    text = (f"MSH|^~\\&|RCV|RCVFAC|relay|lab|20260101000000||ACK^R01^ACK|ack-{cid}|P|2.5.1\r"
            f"MSA|{code}|{cid}\r")
    if err:
        text += f"ERR||PID^1^3|101^Required field missing^HL70357|E||||{err}\r"
    return text.encode()


@dataclass
class Peer:
    port: int
    received: list[bytes] = field(default_factory=list)
    connections: int = 0


Behaviour = Callable[[bytes], bytes | None | str]  # message -> ACK payload, None (stay silent) or "close"


@contextmanager
def mllp_receiver(behaviour: Behaviour, tls: ssl.SSLContext | None = None) -> Iterator[Peer]:
    listener = socket.create_server(("127.0.0.1", 0))
    peer = Peer(port=listener.getsockname()[1])
    stop = threading.Event()
    conns: list[socket.socket] = []

    def serve(conn: socket.socket) -> None:
        buffer = b""
        with conn:
            while not stop.is_set():
                try:
                    chunk = conn.recv(65536)
                except OSError:
                    return
                if not chunk:
                    return
                buffer += chunk
                while START in buffer and END in buffer:
                    start = buffer.index(START)
                    end = buffer.index(END, start)
                    message, buffer = buffer[start + 1:end], buffer[end + 2:]
                    peer.received.append(message)
                    answer = behaviour(message)
                    if answer == "close":
                        return
                    if isinstance(answer, bytes):
                        conn.sendall(START + answer + END)

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            if tls is not None:
                try:
                    conn = tls.wrap_socket(conn, server_side=True)
                except (OSError, ssl.SSLError):
                    conn.close()
                    continue
            peer.connections += 1
            conns.append(conn)
            threading.Thread(target=serve, args=(conn,), daemon=True).start()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield peer
    finally:
        stop.set()
        try:
            listener.shutdown(socket.SHUT_RDWR)  # wakes the accepting thread (Linux)
        except OSError:
            pass
        listener.close()
        for conn in conns:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            conn.close()
        thread.join(5)
