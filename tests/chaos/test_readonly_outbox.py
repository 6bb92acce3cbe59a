"""The outbox on a location relay may not write to: `relay run` stops once, with one plain line and
no traceback, instead of looping.

Tests here run as root, and root ignores file modes, so chmod simulates nothing. Two honest ways
remain, each skipped where it is not available:

- a read-only filesystem: the outbox's folder is bind-mounted read-only inside a private mount
  namespace (``unshare --mount``) that only the relay process lives in, so the kernel answers EROFS
  exactly as for a read-only share or a write-protected stick; the mount vanishes with the process;
- an immutable file (``chattr +i``): the folder stays writable, the database file refuses every
  write (EPERM), so SQLite opens it read-only.
"""

from __future__ import annotations

import functools
import shutil
import subprocess
import tempfile
import time

import pytest

from relay.ingest.files import ingest_file
from relay.samples import write_simple_report
from relay.store.outbox import Outbox
from tests.chaos.support import REPO, relay_cmd, relay_env, run_relay

READ_ONLY = 'mount --bind "$1" "$1" && mount -o remount,bind,ro "$1" && shift && exec "$@"'


@functools.lru_cache(maxsize=1)
def read_only_mounts_work() -> bool:
    if not shutil.which("unshare"):
        return False
    with tempfile.TemporaryDirectory() as probe_dir:
        probe = subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c", READ_ONLY, "sh",
                                probe_dir, "sh", "-c", 'touch "$0/probe" 2>/dev/null && echo writable || echo read-only',
                                probe_dir], capture_output=True, text=True, timeout=30)
    return probe.returncode == 0 and probe.stdout.strip() == "read-only"


def in_read_only(folder, argv):
    return ["unshare", "--mount", "--propagation", "private", "sh", "-c", READ_ONLY, "sh", str(folder), *argv]


def make_outbox(tmp_path, folder):
    folder.mkdir()
    with Outbox(folder / "outbox.db") as box:
        f = write_simple_report(tmp_path / "waiting.csv", 5, seed=3)
        ingest_file(box, f, client="c", source="test", now=time.time(), report_dir=tmp_path)
    cfg = tmp_path / "relay.toml"
    cfg.write_text(f'[intake]\nurl = "http://127.0.0.1:9/api/waters"\n[store]\npath = "{folder.name}/outbox.db"\n'
                   "[listener]\nenabled = false\n", encoding="utf-8")
    return cfg


def run_until_it_exits(argv, home, timeout=60.0):
    """Runs ``argv`` and waits for it to end by itself (a loop would hit the timeout)."""
    started = time.monotonic()
    proc = subprocess.run(argv, env=relay_env(home, "token-not-used-0123456789"), cwd=REPO, capture_output=True,
                          text=True, timeout=timeout, stdin=subprocess.DEVNULL)
    return proc, time.monotonic() - started


def check_one_plain_line(proc, words):
    assert proc.returncode == 1, (proc.returncode, proc.stderr)
    assert "Traceback" not in proc.stderr, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.startswith("relay: ")]
    assert len(lines) == 1 and words in lines[0], proc.stderr
    return lines[0]


@pytest.mark.slow
@pytest.mark.parametrize("existing", [True, False], ids=["existing-outbox", "new-outbox"])
def test_outbox_on_a_read_only_filesystem(tmp_path, existing, figures):
    if not read_only_mounts_work():
        pytest.skip("needs root and `unshare --mount` to mount the outbox folder read-only")
    folder = tmp_path / "store"
    if existing:
        cfg = make_outbox(tmp_path, folder)
    else:
        folder.mkdir()
        cfg = tmp_path / "relay.toml"
        cfg.write_text('[store]\npath = "store/outbox.db"\n[listener]\nenabled = false\n', encoding="utf-8")
    before = sorted(p.name for p in folder.iterdir())
    proc, took = run_until_it_exits(in_read_only(folder, relay_cmd(cfg, "run")), tmp_path / "home")
    line = check_one_plain_line(proc, "Read-only file system")
    assert str(folder) in line
    figures(f"relay run, {'existing' if existing else 'new'} outbox on a read-only filesystem: exit "
            f"{proc.returncode} after {took:.1f} s: {line}")
    status, _ = run_until_it_exits(in_read_only(folder, relay_cmd(cfg, "status")), tmp_path / "home")
    if existing:
        check_one_plain_line(status, "outbox")
    else:  # a read-only command creates no outbox: it says there is none yet
        assert status.returncode == 0 and "There is no outbox yet at" in status.stdout, status
    assert sorted(p.name for p in folder.iterdir()) == before  # nothing was written, nothing moved aside
    if existing:  # the same outbox, writable again, is intact and complete
        out = run_relay(cfg, tmp_path / "home", "status", "--json")
        assert out.returncode == 0 and '"pending": 5' in out.stdout


@pytest.mark.slow
def test_outbox_file_that_refuses_writes(tmp_path, figures):
    cfg = make_outbox(tmp_path, tmp_path / "store")
    db = tmp_path / "store" / "outbox.db"
    if not shutil.which("chattr") or subprocess.run(["chattr", "+i", str(db)], capture_output=True).returncode:
        pytest.skip("needs chattr +i (root on a filesystem with the immutable flag)")
    try:
        proc, took = run_until_it_exits(relay_cmd(cfg, "run"), tmp_path / "home")
        line = check_one_plain_line(proc, "read-only")
        status = run_relay(cfg, tmp_path / "home", "status", "--json")  # reading still works
    finally:
        subprocess.run(["chattr", "-i", str(db)], check=True)
    figures(f"relay run, immutable outbox file: exit {proc.returncode} after {took:.1f} s: {line}")
    assert status.returncode == 0 and '"pending": 5' in status.stdout, status.stderr
