"""The detail pane shows the HL7 message that went out in a CSV row's place, beside the row."""

from __future__ import annotations

import pytest

from relay.config import TranslateConfig
from relay.ingest.files import ingest_file
from relay.samples import write_simple_report
from tests.ui.support import T0, select, show

pytestmark = pytest.mark.gui


def test_a_translated_row_shows_its_message_segment_by_segment(qtbot, make_app, lab, tmp_path):
    path = write_simple_report(tmp_path / "elr.csv", 3, seed=99)
    with lab.box() as box:
        out = ingest_file(box, path, client="simple_report.default", source="watch", now=T0, report_dir=tmp_path,
                          translate=TranslateConfig(to="hl7-elr-2.5.1", timezone="UTC"))
    assert out.accepted == 3
    app = make_app()
    panel = show(qtbot, app, "pending")
    row = next(r for r in range(panel.model.rowCount()) if panel.model.row(r).source_name == "elr.csv")
    select(panel, row)
    detail = panel.detail
    qtbot.waitUntil(lambda: detail.shown_id == panel.model.row(row).id and detail.tabs.isTabVisible(2))
    lines = detail.message.toPlainText().split("\n")
    assert [line[:3] for line in lines[:5]] == ["MSH", "SFT", "PID", "ORC", "OBR"] and lines[-1].startswith("SPM|")
    assert detail.tabs.tabText(2) == "Message sent"
    fields = {detail.fields.item(r, 0).text(): detail.fields.item(r, 1).text()
              for r in range(detail.fields.rowCount())}
    assert fields["Patient_last_name"] and fields["Patient_last_name"] in lines[2]  # the row beside its message

    other = next(r for r in range(panel.model.rowCount()) if panel.model.row(r).source_name != "elr.csv")
    select(panel, other)
    qtbot.waitUntil(lambda: detail.shown_id == panel.model.row(other).id)
    assert not detail.tabs.isTabVisible(2) and detail.message.toPlainText() == ""
