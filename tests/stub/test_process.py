"""``python -m server_stub`` as a process: start-up line, signals, restarts on the same database."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.helpers.stub_server import REPO, http_client, stub_server
from tests.stub.conftest import assert_error, assert_receipt, body, post


def test_sigkill_and_restart_keep_items_stats_and_keys():
    with stub_server(subprocess=True) as stub:
        base_url = stub.base_url
        with http_client(stub.base_url) as client:
            first = post(client, body(3), key="k1")
            assert_receipt(first, 3)
            assert_receipt(post(client, body(3)), 3)  # duplicates, no key
        stub.kill()
        assert stub.returncode == -signal.SIGKILL
        with pytest.raises(httpx.ConnectError), http_client(base_url) as client:
            client.get("/healthz")
        stub.restart()
        assert stub.base_url == base_url  # same port, so an agent pointed at it needs no change
        with http_client(stub.base_url) as client:
            replay = post(client, body(3), key="k1")
            assert (replay.status_code, replay.content) == (201, first.content)
            assert_error(post(client, body(2), key="k1"), 422)
            assert_receipt(post(client, body(1, 50)), 1)
            assert assert_receipt(post(client, body(2)), 2)["duplicateCount"] == 2  # known from before
        stats = stub.stats()
        assert (stats["accepted_items"], stats["unique_items"], stats["duplicates_received"]) == (9, 4, 5)
        assert (stats["requests"], stats["replays"], stats["idempotency_keys"]) == (6, 1, 1)
        assert len(stub.all_items()) == 9
    assert stub.returncode == 0  # SIGTERM is a clean stop


def test_options_reach_the_process():
    with stub_server(subprocess=True, token="t0k", required_columns=["Patient_middle_name"],
                     reject_when=["Result_ID=^bad"], maintenance=["mon-sun 00:00-24:00 UTC"]) as stub:
        with http_client(stub.base_url) as client:
            r = post(client, body(), headers={"x-functions-key": "t0k"})
            assert r.status_code == 503 and int(r.headers["retry-after"]) >= 1
            stub.set_maintenance(0)  # ends only the ad-hoc window; the daily one is still on
            assert post(client, body(), headers={"x-functions-key": "t0k"}).status_code == 503
            assert post(client, body()).status_code == 503  # maintenance is checked first


def _run(*args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "server_stub", *args], cwd=REPO, capture_output=True, text=True,
                          timeout=timeout, env=dict(os.environ, PYTHONPATH=str(REPO)))


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--fail-rate", "2"], "between 0 and 1"),
        (["--maintenance", "someday 09:00-10:00 UTC"], "unknown day"),
        (["--reject-when", "Result_ID=("], "regular expression"),
        (["--reject-when", "novalue"], "FIELD=REGEX"),
        (["--latency", "-5"], "latency"),
    ],
)
def test_bad_arguments_exit_2_with_a_reason(args, words):
    result = _run(*args)
    assert result.returncode == 2 and words in result.stderr


def test_unusable_database_exits_2_with_a_reason(tmp_path: Path):
    result = _run("--port", "0", "--db", str(tmp_path / "no" / "such" / "dir" / "stub.db"))
    assert result.returncode == 2 and "cannot open the database" in result.stderr
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"this is not a database" * 100)
    result = _run("--port", "0", "--db", str(junk))
    assert result.returncode == 2 and "junk.db" in result.stderr


def test_sigint_stops_it_cleanly_and_leaves_a_tidy_database(tmp_path: Path):
    db = tmp_path / "stub.db"
    proc = subprocess.Popen([sys.executable, "-m", "server_stub", "--port", "0", "--db", str(db),
                             "--log", str(tmp_path / "log")], cwd=REPO, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True, env=dict(os.environ, PYTHONPATH=str(REPO)))
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line.startswith("listening on http://127.0.0.1:")
    with http_client(line.split()[-1]) as client:
        assert_receipt(post(client, body(2)), 2)
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=15) == 0
    proc.stdout.close()
    assert not (tmp_path / "stub.db-wal").exists() or (tmp_path / "stub.db-wal").stat().st_size == 0
