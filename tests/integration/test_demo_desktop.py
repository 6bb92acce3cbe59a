"""The demo on a real X display (Xvfb), stopped as a person stops it: Ctrl-C in its terminal.

Installs nothing: skips with the reason where Xvfb is absent (scripts/ci-deps.sh installs it)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from tests.helpers.waiting import wait_until

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Xvfb and /proc: Linux only"),
    pytest.mark.skipif(shutil.which("Xvfb") is None, reason="Xvfb is not installed (scripts/ci-deps.sh installs it)"),
]


@pytest.fixture
def x_display():
    """A fresh Xvfb at 1280x800; yields its DISPLAY value."""
    read, write = os.pipe()
    proc = subprocess.Popen(["Xvfb", "-displayfd", str(write), "-screen", "0", "1280x800x24", "-nolisten", "tcp"],
                            pass_fds=(write,), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    os.close(write)
    try:
        with os.fdopen(read) as fh:
            number = fh.readline().strip()
        if not number:
            pytest.skip("Xvfb did not start here")
        yield f":{number}"
    finally:
        proc.terminate()
        proc.wait(10)


def _processes_mentioning(text: str) -> list[int]:
    """Live processes whose command line holds ``text`` (zombies are gone already: no cmdline)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if text.encode() in cmdline:
            found.append(int(entry.name))
    return found


def test_demo_window_stops_on_ctrl_c_within_10_s_and_leaves_no_process(tmp_path, x_display):
    folder = tmp_path / "demo"
    env = {k: v for k, v in os.environ.items() if k not in ("QT_QPA_PLATFORM", "RELAY_TOKEN")}
    env.update(DISPLAY=x_display, RELAY_HOME=str(tmp_path / "home"))
    # Its own session, as a terminal's foreground job: Ctrl-C goes to the whole process group.
    demo = subprocess.Popen([sys.executable, "-m", "relay", "demo", "--folder", str(folder)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(iter(demo.stdout.readline, "")), daemon=True)
    reader.start()
    try:
        wait_until(lambda: any("stop with Ctrl-C" in ln for ln in lines) or demo.poll() is not None, 60)
        assert demo.poll() is None, "".join(lines)
        # The window is up and the agent at work: files leave the inbox for processed/.
        wait_until(lambda: (folder / "inbox" / "processed" / "clinic-tuesday.csv").exists(), 60)
        assert "desktop app cannot open a window" not in "".join(lines)
        assert _processes_mentioning(str(folder)), "the demo's stub should be running"
        os.killpg(demo.pid, signal.SIGINT)
        code = demo.wait(10)
    finally:
        if demo.poll() is None:
            os.killpg(demo.pid, signal.SIGKILL)
            demo.wait()
    reader.join(5)
    demo.stdout.close()
    out = "".join(lines)
    assert code == 0, out
    assert "Traceback" not in out and "KeyboardInterrupt" not in out, out
    assert "relay demo stopped" in out
    wait_until(lambda: not _processes_mentioning(str(folder)), 10)  # the stub ended with the demo


def test_demo_stub_does_not_outlive_a_killed_demo(tmp_path, x_display):
    """The demo killed outright (SIGKILL, as a crash would end it): its stub still stops."""
    folder = tmp_path / "demo"
    env = {k: v for k, v in os.environ.items() if k not in ("QT_QPA_PLATFORM", "RELAY_TOKEN")}
    env.update(DISPLAY=x_display, RELAY_HOME=str(tmp_path / "home"))
    said = tmp_path / "demo-output.txt"
    with said.open("wb") as out:
        demo = subprocess.Popen([sys.executable, "-m", "relay", "demo", "--folder", str(folder)], env=env,
                                stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_until(lambda: (folder / "inbox" / "processed").exists() or demo.poll() is not None, 60)
        assert demo.poll() is None, f"the demo ended ({demo.returncode}):\n{said.read_text(errors='replace')}"
        assert _processes_mentioning(str(folder))
        demo.kill()
        demo.wait()
    finally:
        if demo.poll() is None:
            demo.kill()
            demo.wait()
    wait_until(lambda: not _processes_mentioning(str(folder)), 10)
