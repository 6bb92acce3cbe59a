"""The command line as a person or script uses it (in-process, plus the real entry point once)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from relay import __version__
from relay.cli import main
from relay.samples import write_simple_report
from relay.store.outbox import Outbox
from tests.helpers.builders import csv_build

STATUS_KEYS = {"pending", "sending", "sent", "failed", "dead", "duplicates", "files_processed", "files_rejected",
               "paused", "paused_reason", "maintenance_until", "oldest_pending_at", "last_success_at"}


@pytest.fixture
def cfg(tmp_path):
    (tmp_path / "inbox").mkdir()
    path = tmp_path / "relay.toml"
    path.write_text('[intake]\nurl = "http://127.0.0.1:9/api/waters"\n[store]\npath = "outbox.db"\n'
                    '[[watch]]\nfolder = "inbox"\nclient = "lab.inbox"\n', encoding="utf-8")
    return path


def run(capsys, *args):
    code = main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_version(capsys):
    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0 and __version__ in capsys.readouterr().out


def test_python_dash_m_relay_runs():
    out = subprocess.run([sys.executable, "-m", "relay", "--version"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and out.stdout.strip() == f"relay {__version__}"


def test_ingest_status_and_list(capsys, cfg, tmp_path):
    a = write_simple_report(tmp_path / "a.csv", 5)
    bad = tmp_path / "empty.csv"
    bad.write_bytes(b"")
    code, out, _ = run(capsys, "--config", str(cfg), "ingest", str(a))
    assert code == 0 and "a.csv: 5 accepted, 0 duplicate, 0 rejected" in out
    assert a.exists()  # left where it was
    code, out, _ = run(capsys, "--config", str(cfg), "ingest", str(a))
    assert code == 0 and "already taken" in out
    code, out, _ = run(capsys, "--config", str(cfg), "ingest", str(bad))
    assert code != 0 and "empty.csv: rejected" in out and (tmp_path / "empty.csv.error.txt").exists()

    code, out, _ = run(capsys, "--config", str(cfg), "status", "--json")
    snap = json.loads(out)
    assert STATUS_KEYS <= set(snap)
    assert (snap["pending"], snap["files_processed"], snap["files_rejected"], snap["paused"]) == (5, 1, 1, False)
    assert snap["oldest_pending_at"] and snap["last_success_at"] is None

    code, out, _ = run(capsys, "--config", str(cfg), "status")
    assert code == 0 and "pending" in out

    code, out, _ = run(capsys, "--config", str(cfg), "list", "--json", "--limit", "2")
    rows = json.loads(out)
    assert [r["id"] for r in rows] == [5, 4]
    assert {"id", "state", "source", "tracking_id", "attempts", "next_attempt_at", "last_error", "receipt"} <= set(rows[0])


def test_ingest_uses_the_watch_folder_settings(capsys, cfg, tmp_path):
    f = write_simple_report(tmp_path / "inbox" / "x.csv", 1)
    run(capsys, "--config", str(cfg), "ingest", str(f))
    with Outbox(tmp_path / "outbox.db") as box:
        assert box.get_item(1).client == "lab.inbox"


def test_missing_file_is_non_zero(capsys, cfg, tmp_path):
    code, _, err = run(capsys, "--config", str(cfg), "ingest", str(tmp_path / "nope.csv"))
    assert code != 0 and "no such file" in err


def ingest_three_and_fail_two(capsys, cfg, tmp_path):
    """Three results read from a file; the intake refused the first two (items 1 and 2)."""
    write_simple_report(tmp_path / "a.csv", 3)
    run(capsys, "--config", str(cfg), "ingest", str(tmp_path / "a.csv"))
    box = Outbox(tmp_path / "outbox.db")
    b = box.claim(now=1e10, lease_s=60, owner="x", limit=2, build=csv_build)
    box.fail_batch(b.id, owner="x", reason="bad", status=422, now=1e10)
    return box


def test_retry_and_resend(capsys, cfg, tmp_path):
    with ingest_three_and_fail_two(capsys, cfg, tmp_path) as box:
        b2 = box.claim(now=1e10, lease_s=60, owner="x", limit=2, build=csv_build)
        box.complete(b2.id, owner="x", receipt="r", status=201, now=1e10)
    code, out, _ = run(capsys, "--config", str(cfg), "retry", "--failed")
    assert code == 0 and "2 item(s)" in out
    code, out, err = run(capsys, "--config", str(cfg), "retry", "1")
    assert code == 1 and "pending" in err
    code, out, err = run(capsys, "--config", str(cfg), "resend", "3")
    assert code == 2 and "--force" in err
    code, out, _ = run(capsys, "--config", str(cfg), "resend", "--force", "3")
    assert code == 0
    code, out, _ = run(capsys, "--config", str(cfg), "list", "--state", "pending", "--json")
    assert len(json.loads(out)) == 3


def test_config_error_is_a_message_not_a_traceback(capsys, tmp_path):
    bad = tmp_path / "relay.toml"
    bad.write_text("[intake]\nbogus = 1\n", encoding="utf-8")
    code, _, err = run(capsys, "--config", str(bad), "status")
    assert code == 2 and "unknown key intake.bogus" in err and "Traceback" not in err


def test_default_config_location_and_relay_config_env(capsys, cfg, monkeypatch):
    monkeypatch.setenv("RELAY_CONFIG", str(cfg))
    code, out, _ = run(capsys, "status", "--json")
    assert code == 0 and json.loads(out)["pending"] == 0


def test_discard_sets_failed_items_aside_and_retry_brings_them_back(capsys, cfg, tmp_path):
    ingest_three_and_fail_two(capsys, cfg, tmp_path).close()
    code, _, err = run(capsys, "--config", str(cfg), "discard", "3")
    assert code == 1 and "only failed or dead" in err  # item 3 is pending
    code, out, _ = run(capsys, "--config", str(cfg), "discard", "1", "--reason", "test record")
    assert code == 0 and "1 item(s) discarded" in out
    code, out, _ = run(capsys, "--config", str(cfg), "status", "--json")
    snap = json.loads(out)
    assert (snap["failed"], snap["discarded"], snap["pending"]) == (1, 1, 1)
    code, out, _ = run(capsys, "--config", str(cfg), "status")
    assert "discarded         1" in out
    code, out, _ = run(capsys, "--config", str(cfg), "list", "--state", "discarded", "--json")
    assert [i["id"] for i in json.loads(out)] == [1]
    code, out, _ = run(capsys, "--config", str(cfg), "retry", "--discarded")
    assert code == 0 and "1 item(s) back to pending" in out
    with Outbox(tmp_path / "outbox.db") as box:
        assert box.db.conn.execute("SELECT actor, action, item_id, detail FROM audit WHERE item_id = 1 "
                                   "ORDER BY id").fetchall() == [("cli", "discard", 1, "test record"),
                                                                 ("cli", "retry", 1, None)]


def test_ingest_totals_name_what_was_rejected(capsys, cfg, tmp_path):
    from relay import samples_hl7

    hl7 = tmp_path / "lab.hl7"
    hl7.write_text(samples_hl7.message(1) + "\rnot a segment\r" + samples_hl7.message(2) + "\r")
    other = tmp_path / "more.hl7"
    other.write_text(samples_hl7.message(3) + "\r")
    code, out, _ = run(capsys, "--config", str(cfg), "ingest", str(hl7), str(other))
    assert code == 0, out
    assert "total: 2 accepted, 0 duplicate, 1 rejected message(s); 0 file(s) rejected whole" in out
    rows = write_simple_report(tmp_path / "rows.csv", 2)
    third = tmp_path / "third.hl7"
    third.write_text(samples_hl7.message(4) + "\r")
    code, out, _ = run(capsys, "--config", str(cfg), "ingest", str(rows), str(third))
    assert "total: 3 accepted, 0 duplicate, 0 rejected row(s) or message(s); 0 file(s)" in out
