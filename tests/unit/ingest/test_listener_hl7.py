"""The local HTTP listener takes application/hl7-v2 bodies (INTERFACE §8): 202 after the commit."""

from __future__ import annotations

from relay import samples_hl7
from tests.unit.ingest.listener_support import running

HL7 = "application/hl7-v2"


def test_an_hl7_batch_is_stored_one_item_a_message(tmp_path):
    with running(tmp_path) as rig:
        body = samples_hl7.batch([samples_hl7.message(n) for n in range(3)])
        answer = rig.post(body, HL7)
        assert answer.status_code == 202, answer.text
        assert answer.json()["duplicates"] == 0 and len(answer.json()["ids"]) == 3
        items = [rig.outbox.get_item(i) for i in answer.json()["ids"]]
        assert [i.kind for i in items] == ["hl7"] * 3 and [i.tracking_id for i in items] == ["1-0", "1-1", "1-2"]
        resend = rig.post(samples_hl7.message(1, control_id="again").replace("\r", "\r\n"), f"{HL7}; charset=latin-1")
        assert resend.status_code == 200 and resend.json() == {"ids": [items[1].id], "duplicates": 1}


def test_a_body_with_a_bad_message_stores_nothing(tmp_path):
    with running(tmp_path) as rig:
        answer = rig.post(samples_hl7.message(1) + "\rMSH|^~\\&|A|B|||2024||", HL7)
        assert answer.status_code == 400 and "message 2" in answer.json()["error"] and "MSH-9" in answer.json()["error"]
        assert rig.count() == 0
        assert rig.post("just text", HL7).status_code == 400
