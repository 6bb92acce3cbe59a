"""Translation at ingest (INTERFACE §10): the row stays the content and the hash, the ELR message is
the wire form, made once (MSH-7 fixed at ingest), and rows that cannot become one are rejected."""

from __future__ import annotations

import csv

import hl7
import pytest

from relay.config import TranslateConfig, from_dict
from relay.delivery.wire import build_csv, by_kind
from relay.errors import ConfigError
from relay.hashing import decode_values
from relay.ingest.files import ingest_file
from relay.ingest.translate import Refused, RowTranslation, check_translation
from relay.samples import SIMPLE_REPORT_COLUMNS, simple_report_rows, write_simple_report
from relay.store.outbox import Outbox

T0 = 1_767_225_600.0  # 2026-01-01T00:00:00Z
ON = TranslateConfig(to="hl7-elr-2.5.1", timezone="UTC", sending_application="relay^2.16.840.1.113883.3.9999^ISO")


@pytest.fixture
def outbox(tmp_path):
    box = Outbox(tmp_path / "o.db")
    yield box
    box.close()


def take(outbox, path, now=T0, translate=ON):
    return ingest_file(outbox, path, client="simple_report.default", source="watch", now=now,
                       report_dir=path.parent, translate=translate)


def write_rows(path, rows):
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(SIMPLE_REPORT_COLUMNS), lineterminator="\r\n")
        writer.writeheader()
        writer.writerows(rows)
    return path


def test_translated_rows_keep_their_content_and_hash_and_carry_the_message(outbox, tmp_path):
    path = write_simple_report(tmp_path / "r.csv", 20, seed=3)
    out = take(outbox, path)
    assert (out.status, out.accepted, out.rows_rejected) == ("accepted", 20, 0)
    with Outbox(tmp_path / "plain.db") as plain:
        take(plain, path, translate=None)
        plain_items = {i.content_hash: i for i in plain.list_items(limit=100)}
    items = outbox.list_items(limit=100)
    assert {i.content_hash for i in items} == set(plain_items)  # duplicates are unchanged by translation
    for item in items:
        assert item.kind == "hl7"
        assert item.payload == plain_items[item.content_hash].payload and plain_items[item.content_hash].kind == "row"
        wire = outbox.item_wire(item.id)
        m = hl7.parse(wire)
        assert m["MSH.F10"] == item.tracking_id
        assert m["MSH.F7"] == "20260101000000+0000"
        row = dict(zip(item.columns, decode_values(item.payload)))
        assert m["PID.F5.R1.C1"] == row["Patient_last_name"]


def test_plain_ingest_stores_no_wire_form(outbox, tmp_path):
    take(outbox, write_simple_report(tmp_path / "p.csv", 3), translate=TranslateConfig())
    assert [(i.kind, outbox.item_wire(i.id)) for i in outbox.list_items()] == [("row", None)] * 3


def test_the_batch_carries_the_messages_made_at_ingest_not_at_sending(outbox, tmp_path):
    take(outbox, write_simple_report(tmp_path / "r.csv", 5, seed=4))
    batch = outbox.claim(now=T0 + 86_400, lease_s=60, owner="t", limit=10, build=by_kind(build_csv))
    assert batch is not None and batch.content_type == "application/hl7-v2"
    messages = list(hl7.parse_file(batch.body.decode())[0])
    assert len(messages) == 5
    assert {m["MSH.F7"] for m in messages} == {"20260101000000+0000"}  # a retry sends the same bytes
    wires = [outbox.item_wire(i) for i in batch.item_ids]
    assert b"".join((w + "\r").encode() for w in wires) in batch.body  # the stored messages, byte for byte


def test_a_copy_of_a_translated_file_is_all_duplicates(outbox, tmp_path):
    path = write_simple_report(tmp_path / "r.csv", 10, seed=5)
    take(outbox, path)
    copy = tmp_path / "r (1).csv"
    copy.write_bytes(path.read_bytes() + b"\r\n")
    again = take(outbox, copy, now=T0 + 60)
    assert (again.accepted, again.duplicates) == (0, 10)


def test_rows_that_cannot_become_a_message_are_rejected_with_the_reason(outbox, tmp_path):
    rows = list(simple_report_rows(6, seed=6))
    rows[1]["Test_result_code"] = ""
    rows[4]["Patient_DOB"] = "20230231"
    out = take(outbox, write_rows(tmp_path / "r.csv", rows))
    assert (out.status, out.accepted, out.rows_rejected) == ("accepted", 4, 2)
    assert out.rows_report is not None
    lines = list(csv.reader(out.rows_report.read_text(encoding="utf-8-sig").splitlines()))
    assert [line[0] for line in lines[1:]] == ["3", "6"]
    assert lines[1][1] == "line 3: cannot become an HL7 ELR message: Test_result_code is empty; an HL7 ELR " \
                          "message needs the test result"
    assert "Patient_DOB '20230231' is not a possible date" in lines[2][1]
    assert lines[2][2:] == [rows[4][c] for c in SIMPLE_REPORT_COLUMNS]  # the row as read, for fixing
    stored = {i.tracking_id for i in outbox.list_items(limit=10)}
    assert rows[1]["Result_ID"] not in stored and rows[4]["Result_ID"] not in stored
    assert outbox.counts().files_processed == 1


def test_a_file_whose_rows_all_fail_is_rejected_whole(outbox, tmp_path):
    rows = list(simple_report_rows(3, seed=7))
    for row in rows:
        row["Testing_lab_CLIA"] = "none"
    out = take(outbox, write_rows(tmp_path / "r.csv", rows))
    assert out.status == "rejected"
    assert out.reason.startswith("None of the 3 data rows could be used: line 2: cannot become an HL7 ELR message")
    assert out.error_report is not None and out.error_report.exists()
    assert outbox.list_items() == []


def test_the_seam_gives_a_message_or_a_reason():
    rows = list(simple_report_rows(2, seed=8))
    translation = RowTranslation(SIMPLE_REPORT_COLUMNS, ON)
    made = translation([rows[0][c] for c in SIMPLE_REPORT_COLUMNS], tracking_id="t-1", content_hash="0" * 64, now=T0)
    assert isinstance(made, str) and made.startswith("MSH|^~\\&|relay^2.16.840.1.113883.3.9999^ISO|")
    rows[1]["Ordered_test_code"] = "COVID"
    refused = translation([rows[1][c] for c in SIMPLE_REPORT_COLUMNS], tracking_id=None, content_hash="0" * 64,
                          now=T0)
    assert isinstance(refused, Refused) and "Ordered_test_code 'COVID' is not a LOINC code" in refused.reason


def config(tmp_path, **parts):
    raw = {"store": {"path": str(tmp_path / "o.db")}, "listener": {"enabled": False},
           "watch": [{"folder": str(tmp_path / "in")}], **parts}
    return from_dict(raw, None)


def test_start_check_refuses_csv_folders_with_an_hl7_only_intake_and_no_translation(tmp_path):
    with pytest.raises(ConfigError, match="translation is off"):
        check_translation(config(tmp_path, intake={"format": "hl7"}))
    check_translation(config(tmp_path, intake={"format": "hl7"}, translate={"to": "hl7-elr-2.5.1"}))
    check_translation(config(tmp_path, intake={"format": "csv"}))
    only_hl7 = config(tmp_path, intake={"format": "hl7"})
    only_hl7 = only_hl7.__class__(**{**only_hl7.__dict__, "watches": ()})
    check_translation(only_hl7)


def test_translate_config_keys_and_defaults(tmp_path):
    c = config(tmp_path, translate={"to": "hl7-elr-2.5.1", "sending_facility": "Site^05D1234567^CLIA",
                                    "processing_id": "T"})
    t = c.translate
    assert t.enabled and t.sending_facility == "Site^05D1234567^CLIA" and t.processing_id == "T"
    assert (t.sending_application, t.receiving_application, t.receiving_facility) == (
        "relay", "APHL^2.16.840.1.113883.3.8589^ISO", "APHL^2.16.840.1.113883.3.8589^ISO")
    assert not config(tmp_path).translate.enabled
    with pytest.raises(ConfigError, match="translate.receiving_facility: 'a|b' is not namespace"):
        config(tmp_path, translate={"receiving_facility": "a|b"})
    with pytest.raises(ConfigError, match="unknown key translate.sending_app"):
        config(tmp_path, translate={"sending_app": "x"})
    with pytest.raises(ConfigError, match="unknown time zone"):
        config(tmp_path, translate={"timezone": "Nowhere/Else"})


def test_relay_ingest_translates_with_the_config(capsys, tmp_path):
    from relay.cli import main

    cfg = tmp_path / "relay.toml"
    cfg.write_text(f'[store]\npath = "{tmp_path / "o.db"}"\n[listener]\nenabled = false\n'
                   '[translate]\nto = "hl7-elr-2.5.1"\ntimezone = "UTC"\n', encoding="utf-8")
    rows = list(simple_report_rows(4, seed=9))
    rows[2]["Specimen_type_code"] = "cotton bud"
    path = write_rows(tmp_path / "in.csv", rows)
    assert main(["--config", str(cfg), "ingest", str(path)]) == 0
    out = capsys.readouterr().out
    assert "in.csv: 3 accepted, 0 duplicate, 1 rejected row(s) (see in.csv.rejected-rows.csv)" in out
    report = (tmp_path / "in.csv.rejected-rows.csv").read_text(encoding="utf-8-sig")
    assert "Specimen_type_code 'cotton bud' is neither a SNOMED CT code nor a known specimen type" in report
    with Outbox(tmp_path / "o.db") as box:
        assert [i.kind for i in box.list_items()] == ["hl7"] * 3
