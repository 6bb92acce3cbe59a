"""``mllp://HOST:PORT`` (``mllps://`` over TLS): HL7 v2 messages, one a frame (INTERFACE §9).

A batch holds one message (``max_items = 1``): a lost ACK then makes the sender resend that one
message, with the same MSH-10, and nothing that was acknowledged. A body that holds several (an HL7
batch made elsewhere) is sent message by message, each waiting for its ACK.

ACKs: MSA-2 must equal the sent MSH-10. AA/CA -> delivered; AE/CE -> retried with backoff; AR/CR ->
failed with the ERR text; no ACK within ``timeout_s``, a wrong MSA-2, an answer that is not an ACK
or a closed connection -> outcome unknown (the connection is dropped; the identical message goes
again).
"""

from __future__ import annotations

import json
import logging
import select
import socket
import ssl
import threading
import time

from relay.delivery.answers import Decision
from relay.delivery.destinations.base import (
    OK,
    UNREACHABLE,
    DestinationContext,
    ProbeResult,
    TrackingIds,
    scheme_settings,
)
from relay.delivery.destinations.mllp_frames import END, START, Ack, Message, NotHl7, messages, parse_ack
from relay.destination_config import MllpConfig
from relay.errors import ConfigError
from relay.store.models import Batch

log = logging.getLogger("relay.delivery")

MAX_ACK_BYTES = 1024 * 1024


class _NoAck(Exception):
    """No usable acknowledgement came (timeout, closed connection, not an ACK, wrong MSA-2)."""


class MllpDestination:
    formats = frozenset({"hl7"})
    max_items: int | None = 1

    def __init__(self, context: DestinationContext) -> None:
        self.context = context
        config = context.config
        mllp: MllpConfig = scheme_settings(context, "mllp")
        self.mllp: MllpConfig = mllp
        self.timeout = config.intake.timeout_s
        self.where = f"{'mllps' if mllp.tls else 'mllp'}://{mllp.host}:{mllp.port}"
        self.tls: ssl.SSLContext | None = None
        if mllp.tls:
            self.tls = ssl.create_default_context()
            if config.intake.ca_file is not None:
                try:
                    self.tls.load_verify_locations(cafile=str(config.intake.ca_file))
                except (OSError, ssl.SSLError) as exc:
                    raise ConfigError(f"{config.source or 'the configuration'}: intake.ca_file: cannot use "
                                      f"{config.intake.ca_file} as certificate authorities") from exc
        self._idle: list[socket.socket] = []
        self._lock = threading.Lock()
        self._closed = False

    # -- connections ---------------------------------------------------------------------------

    def _connect(self, timeout: float) -> socket.socket:
        sock = socket.create_connection((self.mllp.host, self.mllp.port), timeout=timeout)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if self.tls is not None:
            try:
                return self.tls.wrap_socket(sock, server_hostname=self.mllp.host)
            except BaseException:
                sock.close()
                raise
        return sock

    def _take(self) -> socket.socket:
        with self._lock:
            while self._idle:
                sock = self._idle.pop()
                readable, _, _ = select.select([sock], [], [], 0)
                if not readable:  # nothing pending: still open as far as we can tell
                    return sock
                sock.close()  # closed by the receiver (or stray bytes): start afresh
        return self._connect(self.timeout)

    def _give_back(self, sock: socket.socket) -> None:
        with self._lock:
            if not self._closed:
                self._idle.append(sock)
                return
        sock.close()

    # -- Destination ---------------------------------------------------------------------------

    def deliver(self, batch: Batch, tracking_ids: TrackingIds) -> Decision:
        try:
            msgs = messages(batch.body)
        except NotHl7 as exc:
            return Decision("fail_batch", None, f"not HL7 v2, so it cannot go over MLLP: {exc}")
        try:
            sock = self._take()
        except (OSError, ssl.SSLError) as exc:
            return Decision("unknown", None, f"could not reach {self.where} ({_why(exc)}); the same message is sent "
                                             "again")
        acks: list[dict[str, str]] = []
        for position, msg in enumerate(msgs, start=1):
            try:
                ack = self._exchange(sock, msg)
            except _NoAck as exc:
                sock.close()
                return Decision("unknown", None, f"{exc}; outcome unknown, the same message (MSH-10 "
                                                 f"{msg.control_id}) is sent again")
            except (OSError, ssl.SSLError) as exc:
                sock.close()
                return Decision("unknown", None, f"the connection to {self.where} failed ({_why(exc)}); outcome "
                                                 f"unknown, the same message (MSH-10 {msg.control_id}) is sent again")
            said = f": {ack.text}" if ack.text else ""
            if ack.code in ("AE", "CE"):
                self._give_back(sock)
                return Decision("retry_later", None, f"the receiver could not take message {msg.control_id} now "
                                                     f"({ack.code}{said}); it is sent again later")
            if ack.code in ("AR", "CR"):
                self._give_back(sock)
                reason = f"the receiver rejected message {msg.control_id} ({ack.code}{said})"
                if len(msgs) == 1:
                    return Decision("fail_batch", None, reason)
                return Decision("reject_items", None, reason, failures={position: reason})
            acks.append({"control_id": ack.control_id, "code": ack.code})
        self._give_back(sock)
        log.info("batch %d: %d HL7 message(s) acknowledged by %s", batch.id, len(msgs), self.where)
        return Decision("delivered", None, "delivered", receipt=json.dumps(acks[0] if len(acks) == 1 else acks))

    def _exchange(self, sock: socket.socket, msg: Message) -> Ack:
        sock.settimeout(self.timeout)
        sock.sendall(msg.frame())
        payload = _read_frame(sock, self.timeout)
        try:
            ack = parse_ack(payload)
        except NotHl7 as exc:
            raise _NoAck(f"the answer to message {msg.control_id} is not an acknowledgement ({exc})") from exc
        if ack.control_id != msg.control_id:
            raise _NoAck(f"the acknowledgement names message {ack.control_id!r} (MSA-2), not the one sent "
                         f"({msg.control_id!r})")
        if ack.code not in ("AA", "AE", "AR", "CA", "CE", "CR"):
            raise _NoAck(f"the acknowledgement's code {ack.code!r} (MSA-1) is not one HL7 defines")
        return ack

    def probe(self) -> ProbeResult:
        """Opens a connection (and its TLS) and closes it: nothing is sent."""
        try:
            self._connect(min(self.timeout, 20.0)).close()
        except ssl.SSLError as exc:
            return ProbeResult(UNREACHABLE, f"A secure connection to {self.mllp.host}:{self.mllp.port} could not be "
                                            f"made: {exc}. If its certificate comes from your organisation's own "
                                            "authority, set intake.ca_file.")
        except OSError as exc:
            return ProbeResult(UNREACHABLE, f"Could not connect to {self.mllp.host}:{self.mllp.port}: {_why(exc)}.")
        return ProbeResult(OK, f"Connected to {self.where}{' over TLS' if self.tls else ''} (nothing was sent; "
                               "whether the receiver takes relay's messages shows with the first ACK).")

    def close(self) -> None:
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for sock in idle:
            sock.close()


def _read_frame(sock: socket.socket, timeout: float) -> bytes:
    """The payload of the next frame (bytes before its start byte are skipped); the whole frame
    must come within ``timeout`` (a trickling answer is no answer)."""
    deadline = time.monotonic() + timeout
    buffer = bytearray()
    while True:
        try:
            left = deadline - time.monotonic()
            if left <= 0:
                raise socket.timeout
            sock.settimeout(left)
            chunk = sock.recv(65536)
        except (socket.timeout, TimeoutError) as exc:
            raise _NoAck(f"no acknowledgement within {timeout:g} s") from exc
        if not chunk:
            raise _NoAck("the receiver closed the connection before acknowledging")
        buffer += chunk
        start = buffer.find(START)
        if start >= 0:
            end = buffer.find(END, start)
            if end >= 0:
                return bytes(buffer[start + 1:end])
        if len(buffer) > MAX_ACK_BYTES:
            raise _NoAck("the answer is larger than any acknowledgement")


def _why(exc: BaseException) -> str:
    if isinstance(exc, (socket.timeout, TimeoutError)):
        return "no answer in time"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    return str(exc) or type(exc).__name__
