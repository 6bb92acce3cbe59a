"""A damaged outbox at start, through the real command line: `relay status` and `relay list` say so
plainly (no traceback); `relay run` keeps the damaged file aside byte for byte (never deletes it),
says so, and works on with a fresh outbox."""

from __future__ import annotations

import hashlib
import json

import pytest

from relay.ingest.files import ingest_file
from relay.samples import write_simple_report
from relay.store.outbox import Outbox
from tests.chaos.support import RelayRun, run_relay, status_json, wait_until
from tests.helpers.stub_server import stub_server

TOKEN = "corrupt-outbox-token-0123456789"
PAGE = 4096


def damage(db, how):
    data = bytearray(db.read_bytes())
    if how == "header":  # "file is not a database"
        data[:100] = b"\x00garbage" * 12 + b"\x00\x00\x00\x00"
    else:  # pages of items and their indexes overwritten, the header intact ("malformed")
        pages = len(data) // PAGE
        for p in range(pages // 4, pages):
            data[p * PAGE:(p + 1) * PAGE] = b"\x5a" * PAGE
    db.write_bytes(bytes(data))
    return hashlib.sha256(data).hexdigest()


@pytest.mark.slow
@pytest.mark.parametrize("how", ["header", "pages"])
def test_damaged_outbox_is_kept_aside_and_relay_works_on(tmp_path, how, figures):
    db = tmp_path / "outbox.db"
    with Outbox(db) as box:  # a real outbox with 2,000 results waiting in it
        source = write_simple_report(tmp_path / "old.csv", 2000, seed=8)
        assert ingest_file(box, source, client="c", source="test", now=1.0, report_dir=tmp_path).accepted == 2000
    assert not db.with_name("outbox.db-wal").exists()  # checkpointed on close: all of it is in the file
    digest = damage(db, how)
    (tmp_path / "inbox").mkdir()
    home, cfg, stderr = tmp_path / "home", tmp_path / "relay.toml", tmp_path / "relay-run.stderr"

    for command in (("status",), ("status", "--json"), ("list",)):
        out = run_relay(cfg_with(cfg, None), home, *command)
        assert out.returncode == 1, (command, out.stdout, out.stderr)
        assert "damaged" in out.stderr and "Traceback" not in out.stderr, out.stderr
        assert out.stderr.count("\n") == 1, out.stderr  # one plain line
    assert hashlib.sha256(db.read_bytes()).hexdigest() == digest  # looking did not touch it

    with stub_server(token=TOKEN) as stub:
        cfg_with(cfg, stub.url)
        relay = RelayRun(cfg, home, stderr, token=TOKEN)
        try:
            write_simple_report(tmp_path / "new.csv", 20, seed=9).rename(tmp_path / "inbox" / "new.csv")
            wait_until(lambda: stub.stats()["unique_items"] == 20 or not relay.alive(), 60, "new results delivered")
            assert relay.alive(), stderr.read_text()
            snap = status_json(cfg, home)  # while relay run is running, on the fresh outbox
        finally:
            code = relay.terminate()
    assert code == 0
    aside = [p for p in tmp_path.iterdir() if ".damaged-" in p.name and not p.name.endswith(("-wal", "-shm"))]
    assert len(aside) == 1 and aside[0].name.startswith("outbox.db.damaged-")
    assert hashlib.sha256(aside[0].read_bytes()).hexdigest() == digest, "the damaged outbox was changed"
    assert (snap["sent"], snap["pending"]) == (20, 0)
    assert any("damaged" in p and str(aside[0]) in p and ".recover" in p for p in snap["problems"]), snap
    log = stderr.read_text()
    assert "Traceback" not in log
    said = [line for line in log.splitlines() if "a new outbox was started" in line]
    assert len(said) == 1 and "damaged" in said[0] and aside[0].name in said[0], log
    with Outbox(db) as fresh:  # passes its integrity check on open
        assert fresh.counts().by_state["sent"] == 20
    figures(f"{how}: {json.dumps(said[0].split(': ', 1)[-1])[:160]}")


def cfg_with(cfg, url):
    intake = f'[intake]\nurl = "{url}"\n' if url else ""
    cfg.write_text(f'{intake}[store]\npath = "outbox.db"\n[listener]\nenabled = false\n'
                   '[[watch]]\nfolder = "inbox"\nsettle_s = 0\n[delivery]\nretry_initial_s = 0.05\n'
                   'retry_max_s = 0.5\n', encoding="utf-8")
    return cfg
