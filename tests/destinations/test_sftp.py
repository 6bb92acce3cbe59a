"""sftp:// against Debian's real sshd on loopback (tests/destinations/sshd.py)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap

import pytest

from relay.delivery.destinations import open_destination
from relay.errors import ConfigError
from tests.destinations.sshd import keygen, start_sshd, stop_sshd
from tests.destinations.support import make_batch, make_config, make_context, no_tracking
from tests.helpers.waiting import wait_until

BODY = b"Result_ID,Test_result_code\r\nr-1,260415000\r\n"
NAME = "lab.one~20260101000000123~k-0001.csv"


@pytest.fixture(scope="module")
def sshd(tmp_path_factory):
    server = start_sshd(tmp_path_factory.mktemp("sshd"))
    yield server
    stop_sshd(server)


@pytest.fixture
def drop(tmp_path):
    folder = tmp_path / "drop"
    folder.mkdir()
    return folder


def sftp_config(tmp_path, sshd, folder, **sftp):
    settings = {"host_key_sha256": sshd.pin(), "key_file": str(sshd.client_key), **sftp}
    return make_config(tmp_path, {"url": f"sftp://{sshd.user}@127.0.0.1:{sshd.port}{folder}", "sftp": settings,
                                  "auth": "none", "timeout_s": 20})


def test_a_batch_becomes_one_file_and_no_part_is_left(tmp_path, sshd, drop):
    dest = open_destination(make_context(sftp_config(tmp_path, sshd, drop)))
    decision = dest.deliver(make_batch(BODY), no_tracking)
    assert decision.kind == "delivered", decision.message
    assert json.loads(decision.receipt) == {"path": f"{drop}/{NAME}", "size": len(BODY)}
    assert sorted(os.listdir(drop)) == [NAME]
    assert (drop / NAME).read_bytes() == BODY
    assert dest.deliver(make_batch(b"x" * 700_000, key="k-big"), no_tracking).kind == "delivered"  # the session is kept
    assert [s.posix_rename for s in dest._idle] == [True]  # OpenSSH offers posix-rename@openssh.com
    dest.close()


def test_after_a_lost_answer_the_file_of_the_right_size_means_delivered(tmp_path, sshd, drop):
    dest = open_destination(make_context(sftp_config(tmp_path, sshd, drop)))
    batch = make_batch(BODY)
    assert dest.deliver(batch, no_tracking).kind == "delivered"
    before = (drop / NAME).stat().st_mtime_ns
    again = dest.deliver(batch, no_tracking)
    assert again.kind == "delivered" and "already" in again.receipt
    assert (drop / NAME).stat().st_mtime_ns == before  # not written twice
    (drop / NAME).write_bytes(b"someone else's")
    other = dest.deliver(batch, no_tracking)
    assert other.kind == "pause" and "different file" in other.message
    dest.close()


def test_a_stale_part_of_the_same_name_is_replaced(tmp_path, sshd, drop):
    (drop / f".{NAME}.part").write_bytes(b"half of an earlier attempt")
    dest = open_destination(make_context(sftp_config(tmp_path, sshd, drop)))
    assert dest.deliver(make_batch(BODY), no_tracking).kind == "delivered"
    assert sorted(os.listdir(drop)) == [NAME] and (drop / NAME).read_bytes() == BODY
    dest.close()


def test_a_wrong_host_key_sends_nothing_and_pauses_with_the_reason(tmp_path, sshd, drop):
    other = keygen(tmp_path / "other")
    wrong = subprocess.run(["ssh-keygen", "-lf", f"{other}.pub"], capture_output=True, text=True).stdout.split()[1]
    dest = open_destination(make_context(sftp_config(tmp_path, sshd, drop, host_key_sha256=wrong)))
    decision = dest.deliver(make_batch(BODY), no_tracking)
    assert decision.kind == "pause"
    assert "not the pinned one" in decision.message and wrong in decision.message
    assert sshd.pin() in decision.message  # what the server showed, for the person to check
    assert os.listdir(drop) == []
    assert dest.probe().outcome == "wrong"


def test_the_rsa_key_pinned_matches_too(tmp_path, sshd, drop):
    dest = open_destination(make_context(sftp_config(tmp_path, sshd, drop, host_key_sha256=[sshd.pin("rsa")])))
    assert dest.deliver(make_batch(BODY), no_tracking).kind == "delivered"


def test_known_hosts_pins_the_key(tmp_path, sshd, drop):
    known = tmp_path / "known_hosts"
    key = sshd.host_keys["ed25519"].with_suffix(".pub").read_text().split()[:2]
    known.write_text(f"[127.0.0.1]:{sshd.port} {key[0]} {key[1]}\n")
    config = make_config(tmp_path, {"url": f"sftp://{sshd.user}@127.0.0.1:{sshd.port}{drop}", "auth": "none",
                                    "sftp": {"known_hosts": str(known), "key_file": str(sshd.client_key)}})
    dest = open_destination(make_context(config))
    assert dest.deliver(make_batch(BODY), no_tracking).kind == "delivered"
    assert dest.probe().ok
    known.write_text(f"[127.0.0.1]:{sshd.port + 1} {key[0]} {key[1]}\n")
    assert "has no host key" in open_destination(make_context(config)).deliver(make_batch(BODY), no_tracking).message


def test_the_private_key_from_the_keyring_and_a_refused_login(tmp_path, sshd, drop):
    config = make_config(tmp_path, {"url": f"sftp://{sshd.user}@127.0.0.1:{sshd.port}{drop}",
                                    "sftp": {"host_key_sha256": sshd.pin()}})
    good = open_destination(make_context(config, sshd.client_key.read_text()))
    assert good.deliver(make_batch(BODY), no_tracking).kind == "delivered"
    assert good.probe().ok
    stranger = keygen(tmp_path / "stranger").read_text()
    refused = open_destination(make_context(config, stranger)).deliver(make_batch(BODY, key="k-2"), no_tracking)
    assert refused.kind == "pause" and "refused the login" in refused.message
    password = open_destination(make_context(config, "a password")).deliver(make_batch(BODY, key="k-3"), no_tracking)
    assert password.kind == "pause"  # this server takes keys only
    assert open_destination(make_context(config, stranger)).probe().outcome == "bad_credential"


def test_a_key_file_others_can_read_is_refused(tmp_path, sshd, drop):
    loose = tmp_path / "loose_key"
    loose.write_text(sshd.client_key.read_text())
    loose.chmod(0o644)
    dest = open_destination(make_context(sftp_config(tmp_path, sshd, drop, key_file=str(loose))))
    decision = dest.deliver(make_batch(BODY), no_tracking)
    assert decision.kind == "pause" and "chmod 600" in decision.message


def test_a_missing_folder_pauses_and_nothing_listening_is_unknown(tmp_path, sshd, drop):
    dest = open_destination(make_context(sftp_config(tmp_path, sshd, drop / "nope")))
    decision = dest.deliver(make_batch(BODY), no_tracking)
    assert decision.kind == "pause" and "does not exist" in decision.message
    assert dest.probe().outcome == "wrong"
    config = make_config(tmp_path, {"url": f"sftp://u@127.0.0.1:{sshd.port + 1 if sshd.port < 65535 else 1}{drop}",
                                    "sftp": {"host_key_sha256": sshd.pin()}})
    assert open_destination(make_context(config, "pw")).deliver(make_batch(BODY), no_tracking).kind == "unknown"


KILLED_WRITER = textwrap.dedent("""
    import sys
    from pathlib import Path
    from relay.config import from_dict
    from relay.delivery.destinations import open_destination
    from tests.destinations.support import make_batch, make_context, no_tracking
    url, pin, key, folder = sys.argv[1:5]
    config = from_dict({"intake": {"url": url, "client": "lab.one", "auth": "none", "timeout_s": 30,
                        "sftp": {"host_key_sha256": pin, "key_file": key}}}, Path(folder) / "relay.toml")
    body = bytes(range(256)) * (256 * 1024)  # 64 MiB: long enough to be killed in the middle
    open_destination(make_context(config)).deliver(make_batch(body), no_tracking)
""")


def test_a_delivery_killed_mid_write_and_retried_leaves_no_part(tmp_path, sshd, drop):
    url = f"sftp://{sshd.user}@127.0.0.1:{sshd.port}{drop}"
    child = subprocess.Popen([sys.executable, "-c", KILLED_WRITER, url, sshd.pin(), str(sshd.client_key),
                              str(tmp_path)], cwd=os.getcwd())
    part = drop / f".{NAME}.part"
    try:
        wait_until(lambda: part.exists() and part.stat().st_size > 1_000_000, timeout=60)
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    assert part.exists() and not (drop / NAME).exists()  # killed in the middle of the write
    body = bytes(range(256)) * (256 * 1024)
    dest = open_destination(make_context(sftp_config(tmp_path, sshd, drop)))
    assert dest.deliver(make_batch(body), no_tracking).kind == "delivered"
    assert sorted(os.listdir(drop)) == [NAME]
    assert (drop / NAME).read_bytes() == body
    dest.close()


@pytest.mark.parametrize(("url", "sftp", "named"), [
    ("sftp://u@h/data", {}, "intake.sftp.host_key_sha256 or intake.sftp.known_hosts"),
    ("sftp://h/data", {"host_key_sha256": "SHA256:" + "A" * 43}, "names the login"),
    ("sftp://u@h/data", {"host_key_sha256": "MD5:aa"}, "not a fingerprint"),
    ("sftp://u@h", {"host_key_sha256": "SHA256:" + "A" * 43}, "give the folder"),
    ("sftp://u@h/d", {"host_key_sha256": "SHA256:" + "A" * 43, "name_template": "x/{key}"}, "cannot contain /"),
])
def test_config_names_the_missing_or_wrong_key(tmp_path, url, sftp, named):
    with pytest.raises(ConfigError) as err:
        make_config(tmp_path, {"url": url, "sftp": sftp})
    assert named in str(err.value)


def test_home_folder_urls(tmp_path):
    config = make_config(tmp_path, {"url": "sftp://u@h:2222/~/in", "sftp": {"host_key_sha256": "SHA256:" + "A" * 43}})
    sftp = config.intake.destination.sftp
    assert (sftp.user, sftp.host, sftp.port, sftp.path) == ("u", "h", 2222, "in")


def test_password_login_and_a_server_without_posix_rename(tmp_path, drop):
    from tests.destinations.paramiko_sftp import password_sftp_server

    with password_sftp_server() as server:
        config = make_config(tmp_path, {"url": f"sftp://lab@127.0.0.1:{server.port}{drop}",
                                        "sftp": {"host_key_sha256": server.host_key.fingerprint}})
        dest = open_destination(make_context(config, "correct horse"))
        first = dest.deliver(make_batch(BODY), no_tracking)
        assert [s.posix_rename for s in dest._idle] == [False]  # paramiko's server offers no posix-rename
        again = dest.deliver(make_batch(BODY), no_tracking)
        dest.close()
        wrong = open_destination(make_context(config, "wrong password"))
        refused = wrong.deliver(make_batch(BODY, key="k-2"), no_tracking)
        probe = wrong.probe()
        wrong.close()
    assert first.kind == "delivered", first.message
    assert again.kind == "delivered" and "already" in again.receipt
    assert sorted(os.listdir(drop)) == [NAME] and (drop / NAME).read_bytes() == BODY
    assert refused.kind == "pause" and "refused the login of 'lab'" in refused.message
    assert probe.outcome == "bad_credential"
    assert server.logins == ["lab:ok", "lab:refused", "lab:refused"]
