"""CSV in a watched folder -> HL7 v2.5.1 ELR at the stub -> read back with python-hl7: the patient
and result values are the row's. A row that cannot become a message is rejected, never sent."""

from __future__ import annotations

import csv
import sqlite3

import hl7
import pytest

from relay.agent import Agent
from relay.config import from_dict
from relay.errors import ConfigError
from relay.samples import SIMPLE_REPORT_COLUMNS, UPLOAD_COLUMNS, simple_report_rows, upload_rows
from tests.helpers.hl7_judge import assert_valid_elr
from tests.helpers.stub_server import stub_server
from tests.helpers.waiting import wait_until

TOKEN = "test-token-0123456789"


def config(tmp_path, url, translate=True, **extra):
    raw = {
        "intake": {"url": url, "format": "hl7", "batch_max_items": 25, "timeout_s": 5},
        "store": {"path": str(tmp_path / "outbox.db")},
        "listener": {"enabled": False},
        "watch": [{"folder": str(tmp_path / "inbox"), "settle_s": 0}],
        "delivery": {"retry_initial_s": 0.05, "retry_max_s": 0.5},
        **extra,
    }
    if translate:
        raw["translate"] = {"to": "hl7-elr-2.5.1", "sending_application": "relay^2.16.840.1.113883.3.9999^ISO",
                           "timezone": "America/New_York", "processing_id": "T"}
    return from_dict(raw, None)


def write(path, columns, rows):
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(columns), lineterminator="\r\n")
        writer.writeheader()
        writer.writerows(rows)


def messages_at_the_stub(stub) -> list[str]:
    db = sqlite3.connect(f"file:{stub.db}?mode=ro", uri=True)
    try:
        bodies = db.execute("SELECT content_type, body FROM submissions ORDER BY id").fetchall()
    finally:
        db.close()
    assert {ctype for ctype, _ in bodies} == {"application/hl7-v2"}
    out = []
    for _, body in bodies:
        batch = hl7.parse_file(body.decode("utf-8"))[0]
        out += [str(message) for message in batch]
    return out


@pytest.mark.slow
def test_csv_rows_arrive_at_the_stub_as_elr_messages_with_the_rows_values(tmp_path):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    pdi = list(simple_report_rows(30, seed=5))
    bad = dict(pdi[7], Test_result_code="", Result_ID="bad-row")  # no result: cannot be a valid message
    upload = list(upload_rows(30, seed=6))
    with stub_server(token=TOKEN) as stub:
        agent = Agent(config(tmp_path, stub.url), token=lambda: TOKEN)
        agent.start()
        try:
            # written beside the folder, then renamed in (settle_s = 0 would read a file half written)
            write(tmp_path / "pdi.csv", SIMPLE_REPORT_COLUMNS, [*pdi, bad])
            write(tmp_path / "upload.csv", UPLOAD_COLUMNS, upload)
            (tmp_path / "pdi.csv").rename(inbox / "pdi.csv")
            (tmp_path / "upload.csv").rename(inbox / "upload.csv")
            wait_until(lambda: agent.stats()["sent"] == 60, timeout=60)
        finally:
            agent.stop()
        assert stub.stats()["unique_items"] == 60
        texts = messages_at_the_stub(stub)
    assert len(texts) == 60
    by_order = {}
    for text in texts:
        assert_valid_elr(text)
        m = hl7.parse(text)
        by_order[m["ORC.F3.R1.C1"]] = m
    for row in pdi:
        m = by_order[row["Result_ID"]]
        assert m["PID.F5.R1.C1"] == row["Patient_last_name"]
        assert m["PID.F5.R1.C2"] == row["Patient_first_name"]
        assert m["PID.F7"] == row["Patient_DOB"]
        assert m["PID.F8"] == row["Patient_gender"]
        assert m["PID.F11.R1.C1"] == row["Patient_street"]
        assert m["PID.F3.R1.C1"] == row["Patient_ID"]
        assert m["OBX.F5.R1.C1"] == row["Test_result_code"]
        assert m["OBR.F4.R1.C1"] == row["Ordered_test_code"]
        assert m["OBR.F7"][:12] == row["Specimen_collection_date_time"][:12]
        assert m["MSH.F11"] == "T"
    for row in upload:
        m = by_order[row["accession_number"]]
        assert m["PID.F5.R1.C1"] == row["patient_last_name"]
        assert m["PID.F3.R1.C1"] == row["patient_id"]
        month, day, year = row["patient_dob"].split("/")
        assert m["PID.F7"] == f"{year}{int(month):02d}{int(day):02d}"
        assert m["OBX.F3.R1.C1"] == row["test_performed_code"]
    assert "bad-row" not in by_order
    rejected = list((inbox / "rejected").glob("*rejected-rows.csv"))
    assert len(rejected) == 1
    lines = list(csv.reader(rejected[0].read_text(encoding="utf-8-sig").splitlines()))
    assert len(lines) == 2 and "cannot become an HL7 ELR message" in lines[1][1]
    assert "Test_result_code is empty" in lines[1][1]


def test_csv_folder_with_an_hl7_only_intake_and_translation_off_is_refused_at_start(tmp_path):
    (tmp_path / "inbox").mkdir()
    agent = Agent(config(tmp_path, "http://127.0.0.1:9/api/waters", translate=False), token=lambda: TOKEN)
    with pytest.raises(ConfigError) as caught:
        agent.start()
    text = str(caught.value)
    assert "intake.format is \"hl7\"" in text and "translation is off" in text and "inbox" in text
    assert "[translate]" in text
