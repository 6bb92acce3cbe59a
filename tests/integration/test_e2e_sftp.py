"""End to end, CSV folder -> ELR -> SFTP: `relay run` with the default intake.auth and only
intake.sftp.key_file (no stored credential), SIGKILLed while it writes to Debian's sshd on loopback,
then restarted: no `.part` file is left behind and every row lands exactly once, in `.hl7` files."""

from __future__ import annotations

import os
from collections import Counter

import pytest

from tests.destinations.sshd import start_sshd, stop_sshd
from tests.helpers.waiting import wait_until
from tests.integration.e2e_support import TRANSLATE, control_ids, drop_exports, kill, start_relay, stop, write_config

ROUNDS, FILES, ROWS = 2, 2, 60


@pytest.fixture
def sshd(tmp_path):
    server = start_sshd(tmp_path / "sshd", kinds=("ed25519",))
    yield server
    stop_sshd(server)


def landed(drop) -> tuple[Counter[str], list[str]]:
    ids: Counter[str] = Counter()
    parts = []
    for name in os.listdir(drop):
        if name.endswith(".part"):
            parts.append(name)
        else:
            ids.update(control_ids((drop / name).read_bytes()))
    return ids, parts


@pytest.mark.slow
def test_csv_rows_reach_the_sftp_folder_once_each_and_no_part_is_left(tmp_path, sshd):
    inbox, drop = tmp_path / "inbox", tmp_path / "drop"
    inbox.mkdir()
    drop.mkdir()
    cfg = write_config(tmp_path, f'''
[intake]
url = "sftp://{sshd.user}@127.0.0.1:{sshd.port}{drop}"
batch_max_items = 10
timeout_s = 20
[intake.sftp]
host_key_sha256 = "{sshd.pin()}"
key_file = "{sshd.client_key}"
{TRANSLATE}
[[watch]]
folder = "inbox"
settle_s = 0
''')
    expected: list[str] = []
    cut_short = 0
    for round_no in range(ROUNDS):
        proc = start_relay(tmp_path, cfg)  # no RELAY_TOKEN, and no usable keyring: key_file is enough
        try:
            before = len(os.listdir(drop))
            expected += drop_exports(tmp_path, inbox, round_no * FILES * ROWS, FILES, ROWS)
            wait_until(lambda: len(os.listdir(drop)) > before or proc.poll() is not None, timeout=60)
            assert proc.poll() is None, (tmp_path / "relay.log").read_text()
        finally:
            kill(proc)
        cut_short += sum(landed(drop)[0].values()) < len(expected)
    assert cut_short, "every round finished before its kill; the test proved nothing"

    proc = start_relay(tmp_path, cfg)
    try:
        wait_until(lambda: sum(landed(drop)[0].values()) >= len(expected), timeout=90)
    finally:
        assert stop(proc) == 0
    got, parts = landed(drop)
    assert parts == []
    assert set(got) == set(expected) and len(expected) == ROUNDS * FILES * ROWS
    assert max(got.values()) == 1, "a row reached the folder twice"
    assert all(name.endswith(".hl7") and name.startswith("simple_report.default~") for name in os.listdir(drop))
