"""Debian's OpenSSH sshd on a loopback port, run by the test as the current user with its own
throwaway host keys, sshd_config and authorized_keys in a temporary folder. Nothing of the
system's ssh set-up is read or changed (only /run/sshd, sshd's privilege-separation folder, is
made when running as root and it is missing, as the openssh-server service does at start)."""

from __future__ import annotations

import getpass
import os
import shutil
import socket
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.helpers.waiting import wait_until

SSHD = "/usr/sbin/sshd"


def keygen(path: Path, kind: str = "ed25519") -> Path:
    subprocess.run(["ssh-keygen", "-q", "-t", kind, "-N", "", "-C", "relay-test", "-f", str(path)], check=True)
    return path


def fingerprint(public_key: Path) -> str:
    out = subprocess.run(["ssh-keygen", "-lf", str(public_key)], check=True, capture_output=True, text=True).stdout
    return out.split()[1]  # "256 SHA256:... comment (ED25519)"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Sshd:
    port: int
    user: str
    host_keys: dict[str, Path]  # kind -> private key path (public beside it, .pub)
    client_key: Path
    process: subprocess.Popen[bytes]

    def pin(self, kind: str = "ed25519") -> str:
        return fingerprint(self.host_keys[kind].with_suffix(".pub"))


def start_sshd(folder: Path, kinds: tuple[str, ...] = ("ed25519", "rsa")) -> Sshd:
    if not os.path.exists(SSHD) or shutil.which("ssh-keygen") is None:
        pytest.skip("OpenSSH's sshd is not installed (scripts/ci-deps.sh installs openssh-server)")
    if os.geteuid() == 0:
        os.makedirs("/run/sshd", mode=0o755, exist_ok=True)
    folder.mkdir(parents=True, exist_ok=True)
    host_keys = {kind: keygen(folder / f"host_{kind}", kind) for kind in kinds}
    client_key = keygen(folder / "client_ed25519")
    (folder / "authorized_keys").write_text(client_key.with_suffix(".pub").read_text())
    port = free_port()
    config = folder / "sshd_config"
    lines = [f"Port {port}", "ListenAddress 127.0.0.1", *(f"HostKey {p}" for p in host_keys.values()),
             f"PidFile {folder / 'sshd.pid'}", f"AuthorizedKeysFile {folder / 'authorized_keys'}", "StrictModes no",
             "UsePAM no", "PasswordAuthentication no", "KbdInteractiveAuthentication no", "PubkeyAuthentication yes",
             "PermitRootLogin prohibit-password", "Subsystem sftp internal-sftp", "LogLevel ERROR",
             "MaxStartups 50", "MaxSessions 50"]
    config.write_text("\n".join(lines) + "\n")
    with open(folder / "sshd.log", "wb") as log:  # the child keeps its own copy of the descriptor
        process = subprocess.Popen([SSHD, "-D", "-e", "-f", str(config)], stdout=subprocess.DEVNULL, stderr=log)

    def listening() -> bool:
        if process.poll() is not None:
            raise AssertionError(f"sshd exited: {(folder / 'sshd.log').read_text()}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return True
        except OSError:
            return False

    wait_until(listening, timeout=20)
    return Sshd(port=port, user=getpass.getuser(), host_keys=host_keys, client_key=client_key, process=process)


def stop_sshd(sshd: Sshd) -> None:
    sshd.process.terminate()
    try:
        sshd.process.wait(10)
    except subprocess.TimeoutExpired:
        sshd.process.kill()
        sshd.process.wait(10)
