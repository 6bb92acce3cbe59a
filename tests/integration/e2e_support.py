"""Shared by the end-to-end tests: `relay run` as a subprocess with a config written for the test,
SIGKILLed and restarted; CSV exports dropped into a watched folder the way an export tool does (written
beside it, then renamed in)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from relay.samples import write_simple_report

AIMS_NAME = "InterPartner~ExpandedELR~{sender}~AIMSPlatform~{env}~{env}~{timestamp}~STOP~{key}.{ext}"
TRANSLATE = ('[translate]\nto = "hl7-elr-2.5.1"\nsending_application = "relay^2.16.840.1.113883.3.9999^ISO"\n'
             'timezone = "America/New_York"\n')


def write_config(tmp_path: Path, text: str) -> Path:
    cfg = tmp_path / "relay.toml"
    cfg.write_text(f'[store]\npath = "outbox.db"\n[listener]\nenabled = false\n'
                   '[delivery]\nretry_initial_s = 0.05\nretry_max_s = 0.3\n' + text, encoding="utf-8")
    return cfg


def start_relay(tmp_path: Path, cfg: Path, token: str | None = None) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if k != "RELAY_TOKEN"}
    env["RELAY_HOME"] = str(tmp_path / "home")
    env["PYTHON_KEYRING_BACKEND"] = "keyring.backends.fail.Keyring"  # never the machine's own keyring
    if token is not None:
        env["RELAY_TOKEN"] = token
    log = open(tmp_path / "relay.log", "ab")  # noqa: SIM115 - the child keeps its own descriptor
    try:
        return subprocess.Popen([sys.executable, "-m", "relay", "--config", str(cfg), "run"], env=env,
                                stdout=subprocess.DEVNULL, stderr=log)
    finally:
        log.close()


def kill(proc: subprocess.Popen[bytes]) -> None:
    proc.send_signal(signal.SIGKILL)
    proc.wait()


def stop(proc: subprocess.Popen[bytes]) -> int:
    proc.send_signal(signal.SIGTERM)
    return proc.wait(timeout=30)


def drop_exports(tmp_path: Path, inbox: Path, first: int, files: int, rows: int) -> list[str]:
    """``files`` SimpleReport exports of ``rows`` rows each, rows numbered from ``first`` (so every
    row is new); returns their Result_IDs."""
    import csv

    ids: list[str] = []
    for f in range(files):
        start = first + f * rows
        staged = write_simple_report(tmp_path / f"export-{start}.csv", rows, seed=7, start=start)
        with staged.open(encoding="utf-8", newline="") as fh:
            ids += [row["Result_ID"] for row in csv.DictReader(fh)]
        staged.rename(inbox / staged.name)
    return ids


def control_ids(body: bytes) -> list[str]:
    """MSH-10 of every message in an HL7 body (a batch or one message)."""
    out = []
    for segment in body.replace(b"\r\n", b"\r").replace(b"\n", b"\r").split(b"\r"):
        if segment.startswith(b"MSH"):
            out.append(segment.split(segment[3:4])[9].decode())
    return out
