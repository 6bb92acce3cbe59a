"""The detail pane shows an HL7 result by its patient, order and result fields."""

from __future__ import annotations

import pytest

from relay import samples_hl7
from relay.formats.hl7 import read_hl7_bytes
from tests.ui.support import select, show

pytestmark = pytest.mark.gui


def test_an_hl7_result_in_the_detail_pane(qtbot, lab, make_app):
    with lab.box() as box:
        [record] = read_hl7_bytes(samples_hl7.message(7).encode())[1]
        box.add_items([record.item], source="mllp", client="lab", now=lab.clock.now() + 3600)
    app = make_app()
    panel = show(qtbot, app, "pending")
    row = next(r for r in range(panel.model.rowCount()) if panel.model.row(r).kind == "hl7")
    select(panel, row)
    detail = panel.detail
    qtbot.waitUntil(lambda: detail.shown_id == panel.model.row(row).id)
    fields = {detail.fields.item(r, 0).text(): detail.fields.item(r, 1).text()
              for r in range(detail.fields.rowCount())}
    assert fields["Control id (MSH-10)"] == "1-7" and fields["Patient family name"] in samples_hl7.FAMILY
    assert any(k.startswith("Result: ") for k in fields) and "Segment 1 MSH" in fields
    assert ("Tracking id", "1-7") in detail.info_pairs
