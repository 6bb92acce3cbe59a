"""`relay gui` stops on SIGTERM and SIGINT as it does on Quit: the agent stops, exit status 0."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest

from relay.store.outbox import Outbox
from tests.helpers.waiting import wait_until


@pytest.mark.skipif(os.name != "posix", reason="POSIX signals")
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_relay_gui_stops_cleanly_on_a_signal(tmp_path, sig):
    (tmp_path / "inbox").mkdir()
    cfg = tmp_path / "relay.toml"
    cfg.write_text('[intake]\nurl = "http://127.0.0.1:9/api/waters"\n[store]\npath = "outbox.db"\n'
                   '[[watch]]\nfolder = "inbox"\n[listener]\nenabled = false\n', encoding="utf-8")
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", RELAY_TOKEN="signal-test-token-0123456789",
               RELAY_HOME=str(tmp_path / "home"))
    proc = subprocess.Popen([sys.executable, "-m", "relay", "--config", str(cfg), "gui"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        # Up and running: the agent has made the outbox and marked it as in use (clean_close "0").
        wait_until(lambda: (tmp_path / "outbox.db").exists() or proc.poll() is not None, 60)
        wait_until(lambda: _in_use(tmp_path / "outbox.db") or proc.poll() is not None, 60)
        assert proc.poll() is None
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err
    assert "Traceback" not in err and "KeyboardInterrupt" not in err
    with Outbox(tmp_path / "outbox.db", check=False) as box:  # a clean stop was recorded
        assert box.get_control("clean_close") == "1"


def _in_use(path) -> bool:
    """The running agent's mark in its outbox, read through a read-only connection of our own."""
    import sqlite3

    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=1)
        try:
            row = conn.execute("SELECT value FROM control WHERE key = 'clean_close'").fetchone()
        finally:
            conn.close()
    except sqlite3.Error:
        return False
    return row is not None and row[0] == "0"
