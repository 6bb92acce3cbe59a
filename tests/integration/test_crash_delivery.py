"""`relay run` killed with SIGKILL at random moments while draining: after the last restart every
item is delivered exactly once (the stub's own counts prove it), and SIGTERM stops it cleanly."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time

import pytest

from relay.ingest.files import ingest_file
from relay.samples import write_simple_report
from relay.store.outbox import Outbox
from tests.helpers.stub_server import stub_server
from tests.helpers.waiting import wait_until

TOKEN = "crash-test-token-0123456789"




def write_config(tmp_path, url):
    cfg = tmp_path / "relay.toml"
    cfg.write_text(
        f'[intake]\nurl = "{url}"\nbatch_max_items = 50\ntimeout_s = 5\n'
        '[store]\npath = "outbox.db"\n[listener]\nenabled = false\n'
        "[delivery]\nretry_initial_s = 0.05\nretry_max_s = 0.3\n",
        encoding="utf-8",
    )
    return cfg


def start_agent(tmp_path, cfg):
    env = {**os.environ, "RELAY_TOKEN": TOKEN, "RELAY_HOME": str(tmp_path / "home")}
    return subprocess.Popen([sys.executable, "-m", "relay", "--config", str(cfg), "run"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def status(tmp_path, cfg):
    env = {**os.environ, "RELAY_HOME": str(tmp_path / "home")}
    out = subprocess.run([sys.executable, "-m", "relay", "--config", str(cfg), "status", "--json"], env=env,
                         capture_output=True, text=True, timeout=60, check=True)
    return json.loads(out.stdout)


@pytest.mark.slow
def test_sigkill_while_draining_then_exactly_once(tmp_path):
    rng = random.Random(4242)
    with stub_server(token=TOKEN, fail_rate=0.2, latency_ms=20, seed=5) as stub:
        cfg = write_config(tmp_path, stub.url)
        with Outbox(tmp_path / "outbox.db") as box:
            total = 0
            for i in range(4):
                path = write_simple_report(tmp_path / f"f{i}.csv", 400, seed=77 + i)
                total += ingest_file(box, path, client="simple_report.default", source="test", now=time.time(),
                                     report_dir=tmp_path).accepted
        kills = 0
        for _ in range(5):
            proc = start_agent(tmp_path, cfg)
            target = stub.stats()["requests"] + rng.randint(1, 6)
            try:
                wait_until(lambda: stub.stats()["requests"] >= target or proc.poll() is not None, timeout=60)
            finally:
                proc.send_signal(signal.SIGKILL)
                proc.wait()
                proc.stderr.close()
            kills += 1
        assert stub.stats()["unique_items"] < total, "everything went through before the kills; test proved nothing"

        proc = start_agent(tmp_path, cfg)
        try:
            wait_until(lambda: status(tmp_path, cfg)["sent"] == total, timeout=120)
        finally:
            proc.send_signal(signal.SIGTERM)
            started = time.monotonic()
            code = proc.wait(timeout=30)
            stopped_in = time.monotonic() - started
            proc.stderr.close()
        stats = stub.stats()
    assert code == 0 and stopped_in < 10
    assert kills == 5
    assert stats["unique_items"] == total
    assert stats["accepted_items"] == total and stats["duplicates_received"] == 0
    final = status(tmp_path, cfg)
    assert final["pending"] == final["sending"] == final["failed"] == 0
