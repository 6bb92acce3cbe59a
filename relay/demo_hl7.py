"""The HL7 part of `relay demo`: a sample batch file for the HL7 folder, and a small MLLP sender
that sends a few messages to the demo agent's MLLP listener, so a person sees HL7 flow."""

from __future__ import annotations

import socket
from pathlib import Path

from relay import samples_hl7
from relay.formats.hl7_ack import ack_code

CONFIG = (
    "[[watch]]\n"
    'folder = "hl7-inbox"\n'
    'pattern = "*.hl7"\n'
    'format = "hl7"\n'
    "settle_s = 1\n\n"
    "[mllp]\n"
    "enabled = true\n"
    'host = "127.0.0.1"\n'
    "port = 0\n\n"
)


def write_hl7_samples(inbox: Path) -> dict[str, str]:
    """A ReportStream-style batch file: 8 results, one sent twice with a new control id, one broken."""
    inbox.mkdir(parents=True, exist_ok=True)
    messages = [samples_hl7.message(n, seed=11) for n in range(8)]
    messages.append(samples_hl7.message(3, seed=11, control_id="resent-3"))
    messages.append("MSH|^~\\&|Demo Lab|05D9990001|||20260302||")  # no message type
    (inbox / "lab-batch.hl7").write_text(samples_hl7.batch(messages), encoding="utf-8")
    return {"hl7-inbox/lab-batch.hl7": "an HL7 batch: 8 results delivered, 1 resend skipped as a duplicate, "
                                       "1 broken message reported in hl7-inbox/rejected/"}


def send_over_mllp(port: int, count: int = 5, *, seed: int = 12) -> list[tuple[str, str]]:
    """Send ``count`` results to 127.0.0.1:``port``, one frame each; the (MSA-1, MSA-2) of each ACK."""
    acks: list[tuple[str, str]] = []
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        for n in range(count):
            sock.sendall(samples_hl7.frame(samples_hl7.message(n, seed=seed)))
            buf = b""
            while b"\x1c" not in buf:
                data = sock.recv(65536)
                if not data:
                    return acks
                buf += data
            acks.append(ack_code(buf))
    return acks
