"""The start-up format check judges by what each source produces (INTERFACE §9 last bullet), and
`relay ingest` refuses the same files; the destination says itself whether it lacks a credential."""

from __future__ import annotations

import pytest

from relay.clock import FakeClock
from relay.config import from_dict
from relay.delivery.destinations import DestinationContext, open_destination
from relay.delivery.destinations.base import missing_credential
from relay.delivery.fit import check_formats, check_ingest, listener_format
from relay.errors import ConfigError

MLLP = "mllp://127.0.0.1:2575"


def config(tmp_path, url=MLLP, **extra):
    intake = {"url": url, **extra.pop("intake", {})}
    return from_dict({"intake": intake, "store": {"path": str(tmp_path / "o.db")}, "listener": {"enabled": False},
                      **extra}, tmp_path / "relay.toml")


TRANSLATE = {"to": "hl7-elr-2.5.1", "sending_application": "relay^2.16.840.1.113883.3.9999^ISO"}


def test_an_mllp_source_to_an_mllp_destination_starts_with_the_default_format(tmp_path):
    cfg = config(tmp_path, mllp={"enabled": True, "port": 2576})
    assert cfg.intake.format == "csv"
    check_formats(cfg)


def test_hl7_folders_and_the_listener_go_to_mllp(tmp_path):
    cfg = config(tmp_path, watch=[{"folder": str(tmp_path / "hl7"), "format": "hl7"}], listener={"enabled": True})
    check_formats(cfg)
    assert listener_format(cfg, frozenset({"hl7"})) == "hl7"  # rows refused at the listener's door


def test_a_csv_folder_to_mllp_without_translation_is_refused_naming_the_folder(tmp_path):
    inbox = tmp_path / "csv-in"
    cfg = config(tmp_path, watch=[{"folder": str(inbox), "format": "csv"},
                                  {"folder": str(tmp_path / "hl7"), "format": "hl7"}], mllp={"enabled": True})
    with pytest.raises(ConfigError) as caught:
        check_formats(cfg)
    text = str(caught.value)
    assert f"watched folder {inbox}" in text and "mllp://" in text and "[translate]" in text
    assert str(tmp_path / "hl7") not in text and "MLLP listener" not in text


def test_an_auto_folder_may_hold_csv_so_it_needs_translation_for_mllp(tmp_path):
    with pytest.raises(ConfigError, match="auto-in"):
        check_formats(config(tmp_path, watch=[{"folder": str(tmp_path / "auto-in")}]))
    check_formats(config(tmp_path, watch=[{"folder": str(tmp_path / "auto-in")}], translate=TRANSLATE))


def test_csv_to_https_or_s3_is_fine_and_an_hl7_intake_format_needs_translation(tmp_path):
    watch = [{"folder": str(tmp_path / "in"), "format": "csv"}]
    check_formats(config(tmp_path, url="https://intake.example.org/api", watch=watch, mllp={"enabled": True}))
    with pytest.raises(ConfigError, match="takes HL7 v2 messages only"):
        check_formats(config(tmp_path, url="https://intake.example.org/api", watch=watch, intake={"format": "hl7"}))


def test_relay_ingest_refuses_a_csv_file_for_mllp_and_takes_an_hl7_file(tmp_path):
    cfg = config(tmp_path)
    csv_file = tmp_path / "results.csv"
    csv_file.write_text("Result_ID,Result\r\nr-1,Detected\r\n")
    hl7_file = tmp_path / "results.hl7"
    hl7_file.write_bytes(b"MSH|^~\\&|lab|fac|rcv|rcvfac|20260101||ORU^R01|m1|P|2.5.1\r")
    with pytest.raises(ConfigError, match="results.csv"):
        check_ingest(cfg, csv_file)
    check_ingest(cfg, hl7_file)
    check_ingest(config(tmp_path, translate=TRANSLATE), csv_file)
    check_ingest(config(tmp_path, url="https://intake.example.org/api"), csv_file)


def _opened(cfg, secret):
    return open_destination(DestinationContext(config=cfg, clock=FakeClock(), secret=lambda: secret))


def test_each_destination_says_whether_it_lacks_a_credential(tmp_path):
    s3 = {"region": "us-east-1", "endpoint_url": "http://127.0.0.1:9", "access_key_id": "AKIDEXAMPLE"}
    key = tmp_path / "id_ed25519"
    key.write_text("not read here")
    key.chmod(0o600)
    sftp = {"host_key_sha256": "SHA256:" + "A" * 43}
    cases = [
        (config(tmp_path), None, None),  # MLLP needs none, whatever intake.auth says (default "bearer")
        (config(tmp_path, url="sftp://lab@127.0.0.1:2222/in", intake={"sftp": {**sftp, "key_file": str(key)}}),
         None, None),
        (config(tmp_path, url="sftp://lab@127.0.0.1:2222/in", intake={"sftp": sftp}), None, "relay token set"),
        (config(tmp_path, url="sftp://lab@127.0.0.1:2222/in", intake={"sftp": sftp}), "pw", None),
        (config(tmp_path, url="s3://results/in", intake={"s3": s3}), None, "relay token set"),
        (config(tmp_path, url="s3://results/in", intake={"s3": s3}), "secret", None),
        (config(tmp_path, url="https://intake.example.org/api"), None, "relay token set"),
        (config(tmp_path, url="https://intake.example.org/api", intake={"auth": "none"}), None, None),
    ]
    for cfg, secret, said in cases:
        destination = _opened(cfg, secret)
        try:
            reason = missing_credential(destination)
        finally:
            destination.close()
        if said is None:
            assert reason is None, (cfg.intake.url, reason)
        else:
            assert reason is not None and said in reason, (cfg.intake.url, reason)


def test_relay_ingest_says_so_plainly_and_stores_nothing(tmp_path, capsys):
    from relay.cli import main
    from relay.samples import write_simple_report

    path = tmp_path / "relay.toml"
    path.write_text('[intake]\nurl = "mllp://127.0.0.1:2575"\n[store]\npath = "outbox.db"\n', encoding="utf-8")
    export = write_simple_report(tmp_path / "export.csv", 3)
    code = main(["--config", str(path), "ingest", str(export)])
    err = capsys.readouterr().err
    assert code == 2 and "export.csv would be read as CSV rows" in err and "[translate]" in err
    assert "Traceback" not in err and not (tmp_path / "outbox.db").exists()


def test_the_agent_refuses_a_csv_folder_for_mllp_at_start_naming_it(tmp_path):
    from relay.agent import Agent

    inbox = tmp_path / "lab-exports"
    inbox.mkdir()
    agent = Agent(config(tmp_path, watch=[{"folder": str(inbox), "format": "csv"}], mllp={"enabled": True}),
                  token=lambda: None)
    with pytest.raises(ConfigError, match="lab-exports"):
        agent.start()
    assert agent.sender is None and agent.sources == []


def test_s3_without_a_stored_secret_pauses_the_agent_naming_relay_token_set(tmp_path):
    from relay.agent import Agent
    from tests.helpers.builders import new_item
    from tests.helpers.waiting import wait_until

    s3 = {"region": "us-east-1", "endpoint_url": "http://127.0.0.1:9", "access_key_id": "AKIDEXAMPLE"}
    with Agent(config(tmp_path, url="s3://results/in", intake={"s3": s3}), token=lambda: None) as agent:
        agent.box.add_items([new_item(1)], source="file", client="c", now=agent.clock.now())
        agent.new_work()
        status = wait_until(lambda: (s := agent.stats())["paused"] and s, timeout=30)
    assert "no S3 secret access key is stored" in status["paused_reason"]
    assert "relay token set" in status["paused_reason"]
