"""The outbox cannot grow (disk full) in the middle of a run.

A tiny filesystem needs root mounts, so the disk is "full" through SQLite's own page limit
(``PRAGMA max_page_count``) on the running agent's connection: every write that needs a new page
fails exactly as it would with ENOSPC (SQLITE_FULL). New work must be refused without losing it
(the listener answers 503, files stay in the inbox), nothing already acknowledged may be lost, a
person must be able to see why, and once there is room again everything goes through by itself.
"""

from __future__ import annotations

import functools
import json
import shutil
import signal
import subprocess
import tempfile
import threading

import httpx

import pytest

from relay.agent import Agent
from relay.config import from_dict
from relay.errors import EnvironmentProblem, OutboxFull
from relay.ingest.files import ingest_file
from relay.samples import simple_report_rows, write_simple_report
from relay.store.outbox import Outbox
from tests.helpers.builders import new_item
from tests.chaos.support import free_port, relay_cmd, relay_env, wait_until
from tests.helpers.stub_server import http_client, stub_server

TOKEN = "disk-full-token-0123456789"
UNLIMITED = 1_073_741_823


def make_config(tmp_path, url):
    return from_dict({
        "intake": {"url": url, "batch_max_items": 50, "timeout_s": 5},
        "store": {"path": str(tmp_path / "outbox.db")},
        "watch": [{"folder": str(tmp_path / "inbox"), "settle_s": 0}],
        "listener": {"enabled": True, "host": "127.0.0.1", "port": 0},
        "delivery": {"retry_initial_s": 0.05, "retry_max_s": 0.5},
    }, None)


def drop(tmp_path, name, rows, seed, columns=None):
    """Write a file beside the inbox and rename it in (complete on arrival)."""
    kwargs = {"columns": columns} if columns else {}
    path = write_simple_report(tmp_path / name, rows, seed=seed, **kwargs)
    return path.rename(tmp_path / "inbox" / name)


def set_cap(agent, pages):
    with agent.box.db.lock:
        agent.box.db.conn.execute(f"PRAGMA max_page_count = {int(pages)}")


@pytest.mark.slow
def test_full_outbox_refuses_new_work_keeps_what_it_acknowledged_and_recovers(tmp_path, figures):
    (tmp_path / "inbox").mkdir()
    with stub_server(token=TOKEN) as stub:
        agent = Agent(make_config(tmp_path, stub.url), token=lambda: TOKEN)
        agent.start()
        try:
            with http_client(agent.listener.url, timeout=30) as http:
                def post(rows):
                    return http.post("/v1/results", content=json.dumps(rows).encode(),
                                     headers={"content-type": "application/json"})

                # Before: a file and some posts go all the way through.
                drop(tmp_path, "before.csv", 60, seed=1)
                posted = [post([row]) for row in simple_report_rows(10, seed=2)]
                assert {r.status_code for r in posted} == {202}
                wait_until(lambda: agent.stats()["sent"] == 70, 30, "the first results delivered")

                # The disk fills up: nothing may grow from here on.
                with agent.box.db.lock:
                    pages = agent.box.db.conn.execute("PRAGMA page_count").fetchone()[0]
                set_cap(agent, pages)
                acknowledged: dict[int, str] = {}
                refused: list[dict[str, str]] = []
                for row in simple_report_rows(400, seed=3):
                    r = post([row])
                    if r.status_code == 503:
                        refused.append(row)
                        if len(refused) >= 5:
                            break
                        continue
                    assert r.status_code == 202, r.text
                    acknowledged[r.json()["ids"][0]] = row["Result_ID"]
                assert refused, "the listener never refused: the outbox did not fill up"
                assert r.headers.get("retry-after", "").isdigit()
                # a file of the layout already known, and the first file of a new, wide layout
                known = drop(tmp_path, "during.csv", 300, seed=4)
                wide_columns = tuple(f"Extra_field_{n:04d}_with_a_long_name" for n in range(400)) + ("Result_ID",)
                wide = drop(tmp_path, "new-layout.csv", 5, seed=5, columns=wide_columns)
                snap = wait_until(lambda: (s := agent.stats())["problems"] and s, 30, "the problem shown")
                assert any("disk is full" in p for p in snap["problems"]), snap["problems"]
                assert known.exists() and wide.exists(), "a file left the inbox although it was not stored"
                # Nothing acknowledged is lost: every 202 is in the outbox, as it was answered.
                for item_id, result_id in acknowledged.items():
                    item = agent.box.get_item(item_id)
                    assert item is not None and item.tracking_id == result_id
                with agent.box.db.lock:
                    assert agent.box.db.conn.execute("PRAGMA quick_check").fetchone()[0] == "ok"

                # Room again: the files go through by themselves, the callers send what was refused.
                set_cap(agent, UNLIMITED)
                again = [post([row]) for row in refused]
                assert {r.status_code for r in again} == {202}
                expected = 70 + len(acknowledged) + len(refused) + 300 + 5
                wait_until(lambda: agent.stats()["sent"] == expected, 60, "everything delivered after the disk had room")
                wait_until(lambda: not agent.stats()["problems"], 30, "the problem cleared")
                assert not known.exists() and not wide.exists()
                assert (tmp_path / "inbox" / "processed" / "during.csv").exists()
        finally:
            agent.stop()
        stats = stub.stats()
    figures(f"outbox capped at {pages} pages: {len(acknowledged)} posts acknowledged while it filled, "
            f"{len(refused)} refused with 503, 2 files held in the inbox; after: {expected} delivered, "
            f"duplicates at the intake {stats['duplicates_received']}")
    assert stats["unique_items"] == expected == stats["accepted_items"]
    assert stats["duplicates_received"] == 0


def test_full_at_the_first_row_of_a_new_layout_rolls_back_at_once(tmp_path):
    """The file's ledger entry and its new column set are written when its transaction opens; a
    full disk right there is the same plain OutboxFull, and the transaction is over at once (not
    when the garbage collector gets to it), so other threads can write as soon as there is room."""
    box = Outbox(tmp_path / "outbox.db")
    try:
        with box.db.lock:
            pages = box.db.conn.execute("PRAGMA page_count").fetchone()[0]
            box.db.conn.execute(f"PRAGMA max_page_count = {pages}")
        columns = tuple(f"Extra_field_{n:04d}_with_a_long_name" for n in range(400)) + ("Result_ID",)
        path = write_simple_report(tmp_path / "new-layout.csv", 5, columns=columns)
        with pytest.raises(OutboxFull) as info:  # `info` keeps the failed transaction's frames alive
            ingest_file(box, path, client="c", source="test", now=1.0, report_dir=tmp_path)
        assert "disk is full" in str(info.value)
        assert not box.db.conn.in_transaction
        box.db.conn.execute(f"PRAGMA max_page_count = {UNLIMITED}")
        done = []
        writer = threading.Thread(target=lambda: done.append(box.add_items(
            [new_item(1)], source="listener", client="c", now=2.0)))
        writer.start()
        writer.join(10)
        assert done and done[0].accepted == 1
        assert ingest_file(box, path, client="c", source="test", now=3.0, report_dir=tmp_path).accepted == 5
    finally:
        box.close()


TMPFS = 'mount -t tmpfs -o size="$1",mode=0700 tmpfs "$2" && shift 2 && exec "$@"'


@functools.lru_cache(maxsize=1)
def tiny_filesystems_work() -> bool:
    if not (shutil.which("unshare") and shutil.which("nsenter")):
        return False
    with tempfile.TemporaryDirectory() as probe:
        out = subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c", TMPFS, "sh", "64k", probe,
                              "sh", "-c", 'df -k "$0" | tail -1', probe], capture_output=True, text=True, timeout=30)
    return out.returncode == 0 and "tmpfs" in out.stdout


@pytest.mark.slow
def test_a_real_full_disk_under_relay_run(tmp_path, figures):
    """The outbox on a real filesystem that fills up (ENOSPC): a 2.5 MB tmpfs mounted over the outbox
    folder in a private mount namespace that only `relay run` lives in (it vanishes with the process),
    then made larger from outside with `nsenter ... mount -o remount`."""
    if not tiny_filesystems_work():
        pytest.skip("needs root, `unshare --mount` and `nsenter` to give relay a tiny filesystem of its own")
    store, inbox = tmp_path / "store", tmp_path / "inbox"
    store.mkdir()
    inbox.mkdir()
    port = free_port()
    cfg = tmp_path / "relay.toml"
    stderr = tmp_path / "relay-run.stderr"
    with stub_server(token=TOKEN) as stub:
        cfg.write_text(f'[intake]\nurl = "{stub.url}"\nbatch_max_items = 50\ntimeout_s = 5\n'
                       '[store]\npath = "store/outbox.db"\n[[watch]]\nfolder = "inbox"\nsettle_s = 0\n'
                       f'[listener]\nport = {port}\n[delivery]\nretry_initial_s = 0.05\nretry_max_s = 0.5\n',
                       encoding="utf-8")
        with stderr.open("wb") as err:
            proc = subprocess.Popen(["unshare", "--mount", "--propagation", "private", "sh", "-c", TMPFS, "sh",
                                     "2560k", str(store), *relay_cmd(cfg, "run")],
                                    env=relay_env(tmp_path / "home", TOKEN), stdin=subprocess.DEVNULL,
                                    stdout=subprocess.DEVNULL, stderr=err)
        try:
            with http_client(f"http://127.0.0.1:{port}", timeout=30) as http:
                def up():
                    try:
                        return http.get("/healthz").status_code in (200, 503)  # 503: a disk under the reserve
                    except httpx.TransportError:
                        return proc.poll() is not None
                wait_until(up, 60, "relay run answering")
                assert proc.poll() is None, stderr.read_text()
                health = http.get("/healthz")  # 2.5 MB free is far under health.disk_reserve_bytes
                assert health.status_code == 503 and any("under the reserve" in r for r in
                                                         health.json()["unhealthy_reasons"])

                def post(row):
                    return http.post("/v1/results", content=json.dumps(row).encode(),
                                     headers={"content-type": "application/json"})

                acknowledged, refused = [], []
                for row in simple_report_rows(5000, seed=31):
                    r = post(row)
                    if r.status_code == 503:
                        refused.append(row)
                        if len(refused) == 3:
                            break
                    else:
                        assert r.status_code == 202, r.text
                        acknowledged.append(row)
                assert refused, "the tiny filesystem never filled up"
                # Space on a full disk comes and goes (a WAL checkpoint frees some): the file is either
                # held in the inbox with the problem shown, or stored whole and moved.
                held = drop(tmp_path, "while-full.csv", 40, seed=32)
                shown = wait_until(lambda: "held" if any("disk is full" in p for p in http.get("/healthz").json()
                                                         ["problems"]) else "stored" if not held.exists() else None,
                                   30, "the file held with the problem shown, or stored")
                assert shown == "stored" or held.exists()

                grown = subprocess.run(["nsenter", "--target", str(proc.pid), "--mount", "mount", "-o",
                                        "remount,size=64m", str(store)], capture_output=True, text=True, timeout=30)
                assert grown.returncode == 0, grown.stderr
                assert all(post(row).status_code == 202 for row in refused)
                expected = len(acknowledged) + len(refused) + 40
                wait_until(lambda: stub.stats()["unique_items"] == expected and not held.exists(), 120,
                           "everything delivered once the disk had room")
                snap = wait_until(lambda: (s := http.get("/healthz").json())["pending"] == s["sending"] == 0
                                  and not s["problems"] and s, 60, "the outbox drained and the problem cleared")
        finally:
            proc.send_signal(signal.SIGTERM)
            code = proc.wait(timeout=30)
        stats = stub.stats()
    log = stderr.read_text(errors="replace")
    figures(f"real ENOSPC on a 2.5 MB tmpfs: {len(acknowledged)} posts acknowledged before it was full, "
            f"{len(refused)} refused with 503, the file dropped then {shown}; after growing it: {snap['sent']} sent, "
            f"intake unique {stats['unique_items']}, duplicates {stats['duplicates_received']}")
    assert code == 0 and "Traceback" not in log, log[-3000:]
    assert snap["sent"] == expected and stats["accepted_items"] == expected and stats["duplicates_received"] == 0


def test_an_answer_the_outbox_cannot_take_is_recorded_on_the_next_step_not_sent_again(tmp_path):
    """The intake accepted a batch, and just then the outbox could not write (full, or locked by
    another program): the answer is kept and recorded as soon as the outbox takes it, instead of the
    batch staying leased until its lease runs out (then to be sent again)."""
    import sqlite3

    from relay.clock import FakeClock
    from relay.delivery.sender import Sender

    db = tmp_path / "outbox.db"
    blocker = sqlite3.connect(db, isolation_level=None, timeout=0.1)
    requests = []

    def intake(request):
        requests.append(request.headers["idempotency-key"])
        blocker.execute("BEGIN IMMEDIATE")  # the outbox cannot write until it lets go
        return httpx.Response(201, json={"id": "receipt-1"})

    config = from_dict({"intake": {"url": "http://127.0.0.1:9/api/waters"}, "store": {"path": str(db)}}, None)
    with Outbox(db) as box:
        box.db.conn.execute("PRAGMA busy_timeout = 100")
        clock = FakeClock()
        box.add_items([new_item(1), new_item(2)], source="test", client="c", now=clock.now())
        sender = Sender(box, config, client=httpx.Client(transport=httpx.MockTransport(intake)), clock=clock,
                        token=lambda: "t")
        with pytest.raises(EnvironmentProblem, match="locked"):
            sender.step()
        blocker.execute("ROLLBACK")
        assert sender.step() == 0.0
        assert box.counts().by_state["sent"] == 2 and box.get_item(1).receipt == "receipt-1"
        sender.step()
    blocker.close()
    assert len(requests) == 1, "the batch was sent again"


def test_a_problem_the_outbox_cannot_note_does_not_stop_the_watcher(tmp_path):
    """When the outbox cannot be written at all (here: another program holds its write lock; on a
    real full disk the same), noting the watcher's problem in it fails too: the watcher must live on,
    the agent still shows the problem, and the file is taken once the outbox can be written again."""
    import sqlite3

    (tmp_path / "inbox").mkdir()
    config = from_dict({"store": {"path": str(tmp_path / "outbox.db")}, "listener": {"enabled": False},
                        "watch": [{"folder": str(tmp_path / "inbox"), "settle_s": 0}]}, None)
    with Agent(config) as agent:
        agent.box.db.conn.execute("PRAGMA busy_timeout = 50")
        blocker = sqlite3.connect(config.store.path, isolation_level=None, timeout=0.05)
        blocker.execute("BEGIN IMMEDIATE")
        try:
            held = drop(tmp_path, "while-locked.csv", 10, seed=40)
            snap = wait_until(lambda: (s := agent.stats())["problems"] and s, 30, "the problem shown")
            assert any("locked" in p for p in snap["problems"]) and held.exists()
        finally:
            blocker.execute("ROLLBACK")
            blocker.close()
        wait_until(lambda: not held.exists() and not agent.stats()["problems"], 30, "the file taken afterwards")
        assert agent.stats()["pending"] == 10
