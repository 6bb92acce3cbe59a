"""End to end over MLLP both ways: HL7 in over relay's MLLP listener (python-hl7's mllp_send) ->
`relay run` -> an mllp:// destination (a receiver on loopback that records each frame), with the
default intake.format and intake.auth and no stored credential. Each frame carries one bare message
(no FHS/BHS), every message is delivered once, and one answered AE comes again identical (same
MSH-10) before its AA. Also CSV rows translated to ELR go out as their messages over MLLP."""

from __future__ import annotations

import csv
import socket
import subprocess
import sys
import threading
from collections import Counter
from pathlib import Path

import pytest

from relay import samples_hl7
from relay.agent import Agent
from relay.config import from_dict
from relay.samples import SIMPLE_REPORT_COLUMNS, simple_report_rows
from tests.destinations.mllp_peer import ack, mllp_receiver, msh10
from tests.helpers.hl7_judge import assert_valid_elr
from tests.helpers.waiting import wait_until
from tests.integration.e2e_support import start_relay, stop, write_config

MLLP_SEND = Path(sys.executable).with_name("mllp_send")
MESSAGES = 40


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def listening(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False


class AeOnceThenAa:
    """Answers AE the first time it sees ``control_id``, AA to everything else."""

    def __init__(self, control_id: str) -> None:
        self.control_id = control_id
        self.refused = threading.Event()

    def __call__(self, message: bytes) -> bytes:
        if msh10(message) == self.control_id and not self.refused.is_set():
            self.refused.set()
            return ack(message, "AE", err="busy, try again")
        return ack(message, "AA")


def bare(message: bytes) -> bool:
    segments = [s[:3] for s in message.split(b"\r") if s]
    return segments[0] == b"MSH" and not {b"FHS", b"BHS", b"BTS", b"FTS"} & set(segments) \
        and segments.count(b"MSH") == 1


@pytest.mark.skipif(not MLLP_SEND.exists(), reason="python-hl7's mllp_send is not installed in this venv")
def test_hl7_in_over_mllp_goes_out_over_mllp_once_each_and_an_ae_is_sent_again_identical(tmp_path):
    texts = {f"4-{n}": samples_hl7.message(n, seed=4) for n in range(MESSAGES)}
    behaviour = AeOnceThenAa("4-7")
    port = free_port()
    with mllp_receiver(behaviour) as peer:
        cfg = write_config(tmp_path, f'[intake]\nurl = "mllp://127.0.0.1:{peer.port}"\ntimeout_s = 5\n'
                                     f'[mllp]\nenabled = true\nhost = "127.0.0.1"\nport = {port}\n')
        proc = start_relay(tmp_path, cfg)  # no RELAY_TOKEN, no keyring: MLLP needs no credential
        try:
            wait_until(lambda: listening(port) or proc.poll() is not None, timeout=60)
            assert proc.poll() is None, (tmp_path / "relay.log").read_text()
            path = tmp_path / "messages.mllp"
            path.write_bytes(b"".join(samples_hl7.frame(text) for text in texts.values()))
            run = subprocess.run([str(MLLP_SEND), "-p", str(port), "-f", str(path), "127.0.0.1"],
                                 capture_output=True, timeout=60)
            assert run.returncode == 0, run.stderr
            assert run.stdout.count(b"MSA|AA|") == MESSAGES  # relay's listener took every one
            wait_until(lambda: set(map(msh10, peer.received)) == set(texts) and len(peer.received) > MESSAGES
                       or proc.poll() is not None, timeout=60)
        finally:
            assert stop(proc) == 0
    received = list(peer.received)
    assert all(bare(message) for message in received)
    times = Counter(map(msh10, received))
    assert times == {**dict.fromkeys(texts, 1), "4-7": 2}, "a message went twice (or not at all)"
    again = [message for message in received if msh10(message) == "4-7"]
    assert again[0] == again[1] == (texts["4-7"] + "\r").encode()  # the identical message, same MSH-10
    for message in received:
        assert message == (texts[msh10(message)] + "\r").encode()


def test_translated_csv_rows_go_over_mllp_as_their_own_messages(tmp_path):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    rows = list(simple_report_rows(12, seed=21))
    with mllp_receiver(lambda message: ack(message, "AA")) as peer:
        config = from_dict({
            "intake": {"url": f"mllp://127.0.0.1:{peer.port}", "timeout_s": 5},  # default format and auth
            "store": {"path": str(tmp_path / "outbox.db")}, "listener": {"enabled": False},
            "watch": [{"folder": str(inbox), "settle_s": 0, "format": "csv"}],
            "translate": {"to": "hl7-elr-2.5.1", "sending_application": "relay^2.16.840.1.113883.3.9999^ISO",
                          "timezone": "America/New_York"},
            "delivery": {"retry_initial_s": 0.05, "retry_max_s": 0.3},
        }, tmp_path / "relay.toml")
        agent = Agent(config, token=lambda: None)
        agent.start()
        try:
            with (tmp_path / "export.csv").open("w", encoding="utf-8", newline="") as fh:
                writer = csv.DictWriter(fh, fieldnames=list(SIMPLE_REPORT_COLUMNS), lineterminator="\r\n")
                writer.writeheader()
                writer.writerows(rows)
            (tmp_path / "export.csv").rename(inbox / "export.csv")
            wait_until(lambda: agent.stats()["sent"] == len(rows), timeout=60)
        finally:
            agent.stop()
    received = list(peer.received)
    assert sorted(map(msh10, received)) == sorted(row["Result_ID"] for row in rows)
    for message in received:
        assert bare(message)
        assert_valid_elr(message.decode())


def test_the_local_listener_takes_hl7_for_mllp_and_refuses_untranslated_csv_at_its_door(tmp_path):
    import httpx

    port = free_port()
    with mllp_receiver(lambda message: ack(message, "AA")) as peer:
        config = from_dict({
            "intake": {"url": f"mllp://127.0.0.1:{peer.port}", "timeout_s": 5},
            "store": {"path": str(tmp_path / "outbox.db")},
            "listener": {"enabled": True, "host": "127.0.0.1", "port": port},
        }, tmp_path / "relay.toml")
        with Agent(config, token=lambda: None) as agent:
            with httpx.Client(base_url=f"http://127.0.0.1:{port}") as http:
                refused = http.post("/v1/results", content=b"Result_ID,Result\r\nr-1,Detected\r\n",
                                    headers={"content-type": "text/csv"})
                taken = http.post("/v1/results", content=samples_hl7.message(3, seed=5).encode(),
                                  headers={"content-type": "application/hl7-v2"})
            assert refused.status_code == 400 and "HL7" in refused.json()["error"]
            assert taken.status_code == 202, taken.text
            wait_until(lambda: agent.stats()["sent"] == 1, timeout=30)
    assert [msh10(m) for m in peer.received] == ["5-3"] and bare(peer.received[0])
