"""The MLLP listener (INTERFACE §8): HL7 v2 over TCP, acknowledged only once stored.

Framing ``0x0B <message> 0x1C 0x0D``; many frames on one kept-open connection; a frame split
across reads; bytes between frames ignored; frames over 16 MB refused with AR. One ACK per frame,
sent only after the frame's messages are durably in the outbox (group commit shared between
connections, as the HTTP listener does): a batch frame is stored whole, in one transaction, or not
at all. AR (with ERR) for a frame that is not HL7 or cannot be decoded; AE when the outbox cannot
accept, so the sender keeps the message and retries.

A thread per connection: senders are few (a LIS, some instruments) and keep their connection
open; a blocking loop per connection keeps the order of frames and ACKs obvious. bench/mllp.py
measures it (docs/benchmarks.md).
"""

from __future__ import annotations

import ipaddress
import logging
import socket
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import CancelledError
from concurrent.futures import TimeoutError as FutureTimeout
from datetime import datetime, timezone

from relay.clock import Clock
from relay.config import MllpConfig
from relay.errors import EnvironmentProblem, RelayError
from relay.formats.hl7 import Header, Hl7Item, Hl7Reject, read_hl7_bytes
from relay.formats.hl7_ack import AA, AE, AR, ack
from relay.ingest.listener import bind_socket, is_loopback
from relay.ingest.listener_commit import GroupCommitter
from relay.store.outbox import Outbox

log = logging.getLogger("relay.ingest")

SOURCE = "mllp"
START, END, CR = b"\x0b", b"\x1c", b"\x0d"
MAX_FRAME = 16 * 1024 * 1024
MAX_CONNECTIONS = 64
COMMIT_WAIT_S = 30.0  # a commit not even begun by then is withdrawn and answered AE
RECV = 256 * 1024


class MllpListener:
    """Listens on ``config.host:config.port``; items go into ``outbox`` from source "mllp"."""

    def __init__(self, outbox: Outbox, config: MllpConfig, *, client: str, clock: Clock,
                 notify: Callable[[], None]) -> None:
        self.config = config
        self.client = config.client or client
        self._clock = clock
        self._committer = GroupCommitter(outbox, client=self.client, clock=clock, notify=notify, source=SOURCE)
        self._allowed = [ipaddress.ip_network(a, strict=False) for a in config.allow_from]
        self._sock: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._conns: set[socket.socket] = set()
        self._lock = threading.Lock()
        self.frames = 0
        self.refused_peers = 0

    # -- lifecycle ------------------------------------------------------------------------------

    def start(self) -> None:
        try:
            self._sock = bind_socket(self.config.host, self.config.port)
        except EnvironmentProblem as exc:
            raise EnvironmentProblem(str(exc).replace("the local listener", "the MLLP listener")
                                     .replace("listener.", "mllp.")) from exc
        self._committer.start()
        self._thread = threading.Thread(target=self._accept, name="relay-mllp", daemon=True)
        self._thread.start()
        log.info("MLLP listener on %s port %d", self.config.host, self.port)

    def stop(self) -> None:
        self._stopping.set()
        if self._sock is not None:
            try:
                self._sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            self._sock.close()
        with self._lock:
            conns = list(self._conns)
        for conn in conns:  # a frame being stored still gets stored; its ACK may not reach the sender
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        if self._thread is not None:
            self._thread.join(5)
        self._committer.stop()

    def __enter__(self) -> MllpListener:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        assert self._sock is not None
        return int(self._sock.getsockname()[1])

    # -- connections ----------------------------------------------------------------------------

    def allowed(self, address: str) -> bool:
        """Loopback is always let in; any other sender only when allow_from names it."""
        if is_loopback(address):
            return True
        try:
            ip = ipaddress.ip_address(address.split("%", 1)[0])
        except ValueError:
            return False
        return any(ip in net for net in self._allowed)

    def _accept(self) -> None:
        assert self._sock is not None
        while not self._stopping.is_set():
            try:
                conn, peer = self._sock.accept()
            except OSError:
                if self._stopping.is_set():
                    return
                continue
            address = str(peer[0])
            with self._lock:
                crowded = len(self._conns) >= MAX_CONNECTIONS
                if not crowded and self.allowed(address):
                    self._conns.add(conn)
                    threading.Thread(target=self._serve, args=(conn,), name="relay-mllp-conn", daemon=True).start()
                    continue
            self.refused_peers += 1
            log.warning("MLLP: connection from %s refused (%s)", address,
                        "too many connections" if crowded else "not in mllp.allow_from")
            conn.close()

    def _serve(self, conn: socket.socket) -> None:
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            for frame in frames(conn, self._stopping):
                reply = self.answer(frame) if frame is not None else too_big(self.client)
                conn.sendall(START + reply + END + CR)
        except OSError:
            pass  # the sender went away; what was stored stays stored
        except Exception:  # a bug: this connection ends, the listener and the other connections go on
            log.exception("MLLP: a connection ended unexpectedly")
        finally:
            with self._lock:
                self._conns.discard(conn)
            conn.close()

    def answer(self, frame: bytes) -> bytes:
        """The ACK for one frame, after its messages are durably stored (or why not)."""
        self.frames += 1
        reader, records = read_hl7_bytes(frame)
        header = reader.first
        control = reader.bhs_control_id or reader.fhs_control_id or reader.first_control_id or ""
        rejects = [r for r in records if isinstance(r, Hl7Reject)]
        if rejects or not records:
            reason = rejects[0].reason if rejects else "the frame holds no HL7 message"
            if len(records) > 1 and rejects:
                reason = f"message {rejects[0].number} of the frame: {reason}; nothing of the frame was stored"
            log.info("MLLP: frame refused (AR): %s", reason)
            return ack(AR, control, header=header, site=self.client, error=reason, now=self._now())
        items = [r.item for r in records if isinstance(r, Hl7Item)]
        try:
            if self._stopping.is_set():
                return self._ae(control, header, "relay is stopping; send the message again")
            future = self._committer.submit(items, None)
            try:
                result = future.result(COMMIT_WAIT_S)
            except FutureTimeout:
                if future.cancel():  # never begun: nothing stored
                    return self._ae(control, header, "the outbox is busy; send the message again")
                result = future.result()  # begun: wait for its end, the answer must be true
        except CancelledError:
            return self._ae(control, header, "relay is stopping; send the message again")
        except RelayError as exc:
            return self._ae(control, header, f"the outbox cannot accept the message now: {exc}")
        log.debug("MLLP: frame stored: %d new, %d duplicate", result.accepted, result.duplicates)
        return ack(AA, control, header=header, site=self.client, now=self._now())

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self._clock.now(), timezone.utc)

    def _ae(self, control: str, header: Header | None, reason: str) -> bytes:
        log.warning("MLLP: frame not stored (AE): %s", reason)
        return ack(AE, control, header=header, site=self.client, error=reason, now=self._now())

    def stats(self) -> dict[str, int]:
        return {"frames": self.frames, "commits": self._committer.commits, "refused_peers": self.refused_peers}


def too_big(site: str) -> bytes:
    reason = f"the frame is larger than {MAX_FRAME // (1024 * 1024)} MB"
    log.info("MLLP: frame refused (AR): %s", reason)
    return ack(AR, "", site=site, error=reason)


def frames(conn: socket.socket, stopping: threading.Event) -> Iterator[bytes | None]:
    """Each frame's content (bytes), or None for a frame over MAX_FRAME (skipped to its end)."""
    return split_frames(conn.recv, stopping)


def split_frames(recv: Callable[[int], bytes], stopping: threading.Event) -> Iterator[bytes | None]:
    buf = bytearray()
    scan = 0  # where the search for the end byte goes on (a frame split across reads is not rescanned)
    skipping = False  # inside a frame that is too big: its bytes are dropped up to its end
    while not stopping.is_set():
        data = recv(RECV)
        if not data:
            return
        buf += data
        while True:
            if skipping:
                end = buf.find(END)
                if end < 0:
                    buf.clear()
                    break
                del buf[:end + 1]
                skipping = False
                yield None
                continue
            start = buf.find(START)
            if start < 0:
                buf.clear()  # junk between frames
                scan = 0
                break
            if start:
                del buf[:start]
                scan = 0
            end = buf.find(END, max(1, scan))
            if end < 0:
                scan = len(buf)
                if len(buf) > MAX_FRAME + 1:
                    buf.clear()
                    scan = 0
                    skipping = True
                break
            frame = bytes(buf[1:end])
            del buf[:end + 1]
            scan = 0
            if len(frame) > MAX_FRAME:
                yield None
            else:
                yield frame
