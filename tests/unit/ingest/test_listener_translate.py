"""The local listener with translation on: CSV rows and flat JSON records are stored with their ELR
message (202 after the commit); with an HL7-only intake, what cannot go as HL7 is refused with 400."""

from __future__ import annotations

import csv
import io
import json
from contextlib import contextmanager

import hl7
import httpx

from relay.clock import FakeClock
from relay.config import TranslateConfig
from relay.ingest.listener import Listener
from relay.samples import SIMPLE_REPORT_COLUMNS, simple_report_rows
from relay.status import snapshot
from relay.store.outbox import Outbox
from tests.unit.ingest.listener_support import config

ON = TranslateConfig(to="hl7-elr-2.5.1", timezone="UTC")
T0 = 1_767_225_600.0


@contextmanager
def listening(tmp_path, translate, intake_format="hl7"):
    box = Outbox(tmp_path / "outbox.db")
    clock = FakeClock(T0)
    listener = Listener(box, config(), intake_format=intake_format, client="lab.one", clock=clock,
                        notify=lambda: None, status=lambda: snapshot(box, (), clock.now()), translate=translate)
    listener.start()
    try:
        with httpx.Client(base_url=listener.url, timeout=30) as http:
            yield box, http
    finally:
        listener.stop()
        box.close()


def csv_body(rows) -> bytes:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(SIMPLE_REPORT_COLUMNS), lineterminator="\r\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue().encode()


def post(http, body, content_type):
    return http.post("/v1/results", content=body, headers={"content-type": content_type})


def test_csv_and_flat_json_become_hl7_items(tmp_path):
    rows = list(simple_report_rows(3, seed=31))
    with listening(tmp_path, ON) as (box, http):
        answer = post(http, csv_body(rows[:2]), "text/csv")
        assert answer.status_code == 202, answer.text
        record = post(http, json.dumps(rows[2]).encode(), "application/json")
        assert record.status_code == 202, record.text
        ids = answer.json()["ids"] + record.json()["ids"]
        items = [box.get_item(i) for i in ids]
        assert [i.kind for i in items] == ["hl7"] * 3
        for item, row in zip(items, rows):
            m = hl7.parse(box.item_wire(item.id))
            assert m["MSH.F10"] == row["Result_ID"] and m["PID.F5.R1.C1"] == row["Patient_last_name"]
            assert m["MSH.F7"] == "20260101000000+0000"
        again = post(http, csv_body(rows[:1]), "text/csv")  # the same row again: a duplicate, as before
        assert again.status_code == 200 and again.json()["duplicates"] == 1


def test_a_row_that_cannot_become_a_message_refuses_the_body(tmp_path):
    rows = list(simple_report_rows(2, seed=32))
    rows[1]["Test_result_code"] = "maybe"
    with listening(tmp_path, ON) as (box, http):
        answer = post(http, csv_body(rows), "text/csv")
        assert answer.status_code == 400
        assert "line 3: cannot become an HL7 ELR message: Test_result_code 'maybe'" in answer.json()["error"]
        assert box.list_items() == []


def test_an_hl7_only_intake_without_translation_refuses_rows(tmp_path):
    rows = list(simple_report_rows(1, seed=33))
    with listening(tmp_path, None) as (box, http):
        answer = post(http, csv_body(rows), "text/csv")
        assert answer.status_code == 400 and "translation is off" in answer.json()["error"]
        nested = post(http, b'{"a": {"b": 1}}', "application/json")
        assert nested.status_code == 400
        assert box.list_items() == []
