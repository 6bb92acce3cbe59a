"""The reader seam (relay/formats/reader.py): bytes in, NewItems and Rejects out, for CSV, JSON,
JSON lines and HL7 alike; a whole body is all or nothing."""

from __future__ import annotations

import pytest

from relay import samples_hl7
from relay.formats.json_reader import BodyRejected
from relay.formats.reader import BODY_KINDS, Reader, Reject, read_items, reader_for
from relay.items import NewItem

CSV = b"Result_ID,Patient_last_name\r\nr1,Doe\r\nr2,Roe\r\n"


def kinds() -> dict[str, bytes]:
    return {
        "csv": CSV,
        "json": b'[{"Result_ID": "r1", "Patient_last_name": "Doe"}, {"Result_ID": "r2", "Patient_last_name": "Roe"}]',
        "ndjson": b'{"Result_ID": "r1", "Patient_last_name": "Doe"}\n{"Result_ID": "r2", "Patient_last_name": "Roe"}\n',
        "hl7": samples_hl7.batch([samples_hl7.message(1), samples_hl7.message(2)]).encode(),
    }


@pytest.mark.parametrize("kind", BODY_KINDS)
def test_every_reader_turns_bytes_into_items(kind):
    reader: Reader = reader_for(kind, intake_format="csv" if kind != "json" else "json",
                                tracking_column=None)
    got = list(reader.read(kinds()[kind]))
    assert len(got) == 2 and all(isinstance(i, NewItem) for i in got)
    assert len({i.content_hash for i in got if isinstance(i, NewItem)}) == 2
    assert read_items(reader, kinds()[kind]) == got


def test_a_csv_reject_is_yielded_in_order_and_refuses_the_body():
    data = CSV + b"r3,Poe,extra\r\n"
    got = list(reader_for("csv", intake_format="csv").read(data))
    assert [type(g).__name__ for g in got] == ["NewItem", "NewItem", "Reject"]
    reject = got[2]
    assert isinstance(reject, Reject) and reject.where == "line 4" and str(reject).startswith("line 4")
    with pytest.raises(BodyRejected, match="^1 row could not be used, so nothing was stored: line 4"):
        read_items(reader_for("csv", intake_format="csv"), data)


def test_an_hl7_reject_names_its_message():
    data = (samples_hl7.message(1) + "\rMSH|^~\\&|x").encode()
    got = list(reader_for("hl7", intake_format="hl7").read(data))
    assert isinstance(got[-1], Reject) and got[-1].where == "message 2"
    with pytest.raises(BodyRejected, match=r"^1 message\(s\) could not be used, so nothing was stored: message 2: "):
        read_items(reader_for("hl7", intake_format="hl7"), data)
    with pytest.raises(BodyRejected, match="holds no HL7 message"):
        read_items(reader_for("hl7", intake_format="hl7"), b"\r\n")


def test_too_many_records_are_refused_in_the_readers_own_words():
    with pytest.raises(BodyRejected, match="more than 1 rows, more than one request may carry"):
        read_items(reader_for("csv", intake_format="csv"), CSV, max_items=1)


def test_a_whole_body_problem_is_a_body_rejection():
    with pytest.raises(BodyRejected):
        read_items(reader_for("csv", intake_format="csv"), b"\x00\x01\x02binary")
    with pytest.raises(ValueError, match="unknown body kind"):
        reader_for("xml", intake_format="csv")
