"""Shared pieces of the chaos tests: `relay run` as a real subprocess, free loopback ports, and
bounded waits on conditions (never on time passing)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import httpx

REPO = Path(__file__).resolve().parents[2]
T = TypeVar("T")


def wait_until(condition: Callable[[], T], timeout: float, what: str, step: float = 0.02) -> T:
    """Poll ``condition`` until it returns something true; AssertionError naming ``what`` after
    ``timeout`` seconds. The short pause between polls waits for the condition, not for time."""
    deadline = time.monotonic() + timeout
    pause = threading.Event()
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not reached within {timeout:g} s")
        pause.wait(step)


def free_port() -> int:
    """A port free on 127.0.0.1 right now (for a subprocess that must be told its port)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def relay_env(home: Path, token: str | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("RELAY_TOKEN", "RELAY_CONFIG")}
    env["RELAY_HOME"] = str(home)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))
    if token:
        env["RELAY_TOKEN"] = token
    return env


def relay_cmd(config: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "relay", "--config", str(config), *args]


class RelayRun:
    """`relay run` in its own process; standard error appended to ``stderr_path``."""

    def __init__(self, config: Path, home: Path, stderr_path: Path, token: str | None = None) -> None:
        self.config = config
        self.stderr_path = stderr_path
        with stderr_path.open("ab") as err:
            self.proc = subprocess.Popen(relay_cmd(config, "run"), env=relay_env(home, token), cwd=REPO,
                                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err)

    def alive(self) -> bool:
        return self.proc.poll() is None

    def kill(self) -> None:
        """SIGKILL, as a crash or a power cut would."""
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def terminate(self, timeout: float = 30.0) -> int:
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=timeout)


def run_relay(config: Path, home: Path, *args: str, timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
    return subprocess.run(relay_cmd(config, *args), env=relay_env(home), cwd=REPO, capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL)


def status_json(config: Path, home: Path) -> dict[str, Any]:
    out = run_relay(config, home, "status", "--json")
    assert out.returncode == 0, out.stderr
    return dict(json.loads(out.stdout))


def fd_position(pid: int, target: Path) -> int | None:
    """Where process ``pid`` is reading ``target`` (same device and inode), or None if it has it
    not open (Linux, /proc)."""
    st = os.stat(target)
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return None
    for fd in fds:
        try:
            fst = os.stat(f"/proc/{pid}/fd/{fd}")
            if (fst.st_dev, fst.st_ino) != (st.st_dev, st.st_ino):
                continue
            with open(f"/proc/{pid}/fdinfo/{fd}") as fh:
                return int(fh.readline().split()[1])
        except (OSError, ValueError, IndexError):
            continue
    return None


def family(pid: int) -> list[int]:
    """``pid`` and its child processes (Linux, /proc): relay and its row-reading helper."""
    found = [pid]
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return found
    for task in tasks:
        try:
            with open(f"/proc/{pid}/task/{task}/children") as fh:
                found += [int(child) for child in fh.read().split()]
        except (OSError, ValueError):
            continue
    return found


def holds_open(pid: int, target: Path) -> bool:
    """Whether process ``pid`` has ``target`` (same device and inode) open (Linux, /proc)."""
    try:
        return fd_position(pid, target) is not None
    except OSError:  # the target itself is gone
        return False


def listener_up(http: httpx.Client) -> bool:
    """Whether relay's local listener answers (503 too: up, and saying what is wrong)."""
    try:
        return http.get("/healthz", timeout=1).status_code in (200, 503)
    except httpx.TransportError:
        return False
    for fd in fds:
        try:
            fst = os.stat(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if (fst.st_dev, fst.st_ino) == (st.st_dev, st.st_ino):
            return True
    return False
