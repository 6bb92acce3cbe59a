"""SIGKILL during `relay ingest` of a large file: afterwards the outbox holds all of the file's rows
or none, and passes its integrity check."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from relay.samples import write_simple_report
from relay.store.outbox import Outbox

ROWS = 30_000


@pytest.fixture(scope="module")
def big_file(tmp_path_factory):
    return write_simple_report(tmp_path_factory.mktemp("big") / "big.csv", ROWS, seed=7)


def start_ingest(tmp_path: Path, file: Path) -> subprocess.Popen[bytes]:
    cfg = tmp_path / "relay.toml"
    cfg.write_text('[store]\npath = "outbox.db"\n', encoding="utf-8")
    env = {**os.environ, "RELAY_HOME": str(tmp_path / "home")}
    return subprocess.Popen([sys.executable, "-m", "relay", "--config", str(cfg), "ingest", str(file)],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def kill_when_wal_exceeds(proc: subprocess.Popen[bytes], wal: Path, threshold: int) -> bool:
    """Waits on a condition (the WAL growing past ``threshold`` bytes), not on time passing.
    Returns True if the process was killed, False if it finished first."""
    deadline = time.monotonic() + 120
    while proc.poll() is None and time.monotonic() < deadline:
        if wal.exists() and wal.stat().st_size >= threshold:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            return True
    proc.wait()
    return False


@pytest.mark.slow
def test_sigkill_at_random_moments_leaves_all_rows_or_none(tmp_path, big_file):
    rng = random.Random(20261122)
    outcomes = []
    thresholds = [0, 1] + [rng.randint(4096, 24 * 1024 * 1024) for _ in range(6)]
    for round_no, threshold in enumerate(thresholds):
        work = tmp_path / f"round{round_no}"
        work.mkdir()
        proc = start_ingest(work, big_file)
        killed = kill_when_wal_exceeds(proc, work / "outbox.db-wal", threshold)
        db = work / "outbox.db"
        if not db.exists():
            outcomes.append((killed, 0))
            continue
        with Outbox(db, check=True) as box:  # integrity check runs at open
            count = box.count_items()
            files = box.counts().files_processed
            payloads = box.db.conn.execute("SELECT count(*) FROM payloads").fetchone()[0]
        assert count in (0, ROWS), f"round {round_no}: {count} rows after SIGKILL"
        assert payloads == count  # each item with its content, written by the chunk writer in the same transaction
        assert files == (1 if count else 0)
        outcomes.append((killed, count))
    assert any(killed for killed, _ in outcomes), "no round was killed mid-way; the test proved nothing"
    assert any(killed and count == 0 for killed, count in outcomes)


@pytest.mark.slow
def test_ingest_after_a_crash_takes_the_file_once(tmp_path, big_file):
    proc = start_ingest(tmp_path, big_file)
    kill_when_wal_exceeds(proc, tmp_path / "outbox.db-wal", 2 * 1024 * 1024)
    again = start_ingest(tmp_path, big_file)
    assert again.wait(timeout=120) == 0
    third = start_ingest(tmp_path, big_file)  # met again: nothing added twice
    assert third.wait(timeout=120) == 0
    with Outbox(tmp_path / "outbox.db") as box:
        assert box.count_items() == ROWS and box.counts().duplicates == 0
