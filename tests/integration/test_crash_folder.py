"""SIGKILL of `relay run` while it takes files from a watched folder: every file ends up either
still in the inbox (nothing of it stored) or in processed/ with all its rows; a restart finishes the
job and nothing is stored twice."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys

import pytest

from relay.samples import write_simple_report
from relay.store.outbox import Outbox
from tests.helpers.waiting import wait_until

ROWS = 3000




def start(tmp_path, cfg):
    env = {**os.environ, "RELAY_HOME": str(tmp_path / "home")}
    with open(tmp_path / "relay.log", "ab") as log:  # the child keeps its own descriptor
        return subprocess.Popen([sys.executable, "-m", "relay", "--config", str(cfg), "run"], env=env,
                                stdout=subprocess.DEVNULL, stderr=log)


def runs_started(tmp_path):
    log = tmp_path / "relay.log"
    return log.read_text(encoding="utf-8", errors="replace").count("running; stop with") if log.exists() else 0


def check_consistent(tmp_path, names):
    inbox, processed = tmp_path / "inbox", tmp_path / "inbox" / "processed"
    with Outbox(tmp_path / "outbox.db") as box:
        per_file = {f.name: f.rows_accepted for f in box.list_files(limit=100)}
        total = box.count_items()
    for name in names:
        if (processed / name).exists():
            assert per_file.get(name) == ROWS, f"{name} moved but {per_file.get(name)} rows stored"
        else:
            assert (inbox / name).exists(), f"{name} vanished"
    assert total == sum(per_file.values())
    return total


@pytest.mark.slow
def test_sigkill_during_folder_ingest(tmp_path):
    rng = random.Random(99)
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    cfg = tmp_path / "relay.toml"
    cfg.write_text('[store]\npath = "outbox.db"\n[listener]\nenabled = false\n'
                   '[[watch]]\nfolder = "inbox"\nsettle_s = 0\n', encoding="utf-8")
    sources = [write_simple_report(tmp_path / f"export{i}.csv", ROWS, seed=500 + i) for i in range(8)]
    names = [p.name for p in sources]
    for p in sources:
        p.rename(inbox / p.name)
    killed_mid_way = 0
    for _ in range(5):
        proc = start(tmp_path, cfg)
        wal = tmp_path / "outbox.db-wal"
        threshold = rng.randint(1, 6 * 1024 * 1024)
        wait_until(lambda: proc.poll() is not None or (wal.exists() and wal.stat().st_size >= threshold))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        check_consistent(tmp_path, names)
        killed_mid_way += any((inbox / n).exists() for n in names)
    assert killed_mid_way, "every run finished before the kill; the test proved nothing"
    before = runs_started(tmp_path)
    proc = start(tmp_path, cfg)
    try:
        # the last killed run may have finished every file: stop this one only once it is running
        wait_until(lambda: runs_started(tmp_path) > before or proc.poll() is not None, timeout=60)
        wait_until(lambda: all((inbox / "processed" / n).exists() for n in names), timeout=120)
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
    assert check_consistent(tmp_path, names) == ROWS * len(names)
    with Outbox(tmp_path / "outbox.db") as box:
        assert box.counts().duplicates == 0
