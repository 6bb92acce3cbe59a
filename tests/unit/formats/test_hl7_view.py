"""An HL7 item in the window: its patient, order and result fields in words, then its segments."""

from __future__ import annotations

from relay import samples_hl7
from relay.formats.hl7 import read_hl7_bytes
from relay.store.outbox import Outbox
from relay.ui.export import export_items, fields_of


def test_the_window_shows_an_hl7_item_by_its_fields(tmp_path):
    text = samples_hl7.message(1)
    with Outbox(tmp_path / "o.db") as box:
        box.add_items([read_hl7_bytes(text.encode())[1][0].item], source="mllp", client="c", now=1.0)
        item = box.list_items(limit=1)[0]
        fields = dict(fields_of(item))
        assert fields["Control id (MSH-10)"] == "1-1"
        assert fields["Patient family name"] in samples_hl7.FAMILY and fields["Sex"] in "FMU"
        assert fields["Specimen"] == "Nasopharyngeal swab"
        results = [k for k in fields if k.startswith("Result: ")]
        assert len(results) == 3 and any(v in fields[results[0]] for v in ("Detected", "Not detected", "Invalid"))
        segments = [k for k in fields if k.startswith("Segment ")]
        assert len(segments) == len(text.split("\r")) and segments[0] == "Segment 1 MSH"
        assert export_items([item], tmp_path / "out.csv") == 1
        assert "Patient family name" in (tmp_path / "out.csv").read_text(encoding="utf-8-sig")
