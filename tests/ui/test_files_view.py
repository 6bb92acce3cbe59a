"""The Files view tells why rows were rejected, lists files the watcher ignored, and a rejected
file (or rejected rows) turns the tray to "needs attention" until a person has seen them in the
Files view or through the notice (INTERFACE §3a)."""

from __future__ import annotations

import os

from relay.ingest.files import ingest_file
from relay.store.outbox import Outbox
from relay.ui import status_text as words
from relay.ui.file_reports import FileRow, ignored_rows
from relay.ui.models import FILE_COLUMNS
from relay.ui.reader import FileSource, StoreReader
from relay.ui.session import seen_files_mark
from tests.ui.fakes import FakeTray
from tests.ui.support import settle, show

BAD_ROWS = ("Result_ID,Patient_last_name,Patient_first_name,Test_result_code,Test_date\r\n"
            "r-1,Rivera,Ana,260415000,20261120\r\n"
            "r-2,Chen\r\n"
            "r-3,Okafor,Chidi,260373001,20261121\r\n")


def _drop(lab, name: str, content: bytes) -> None:
    """What the watcher does with a file: read it, reports in the watch's rejected folder."""
    watch = lab.config.watches[0]
    watch.rejected_folder.mkdir(parents=True, exist_ok=True)
    path = watch.folder / name
    path.write_bytes(content)
    with lab.box() as box:
        ingest_file(box, path, client="simple_report.default", source="watch", now=lab.clock.now(),
                    report_dir=watch.rejected_folder)


def _cell(key: str, row) -> str:
    col = next(c for c in FILE_COLUMNS if c.key == key)
    return col.text(row, 0.0)


def test_rejected_rows_and_a_rejected_file_need_attention_until_the_files_view_is_seen(qtbot, make_app, lab):
    app = make_app()
    assert app.session.stats["files_attention"] is None  # the lab's older files were seen
    _drop(lab, "lab-with-bad-rows.csv", BAD_ROWS.encode())
    _drop(lab, "results.xlsx.csv", b"PK\x03\x04" + os.urandom(300))
    app.session.request_refresh()
    qtbot.waitUntil(lambda: bool(app.session.stats.get("files_attention")), timeout=5000)
    said = app.session.stats["files_attention"]
    assert said == "results.xlsx.csv was rejected; 1 row of lab-with-bad-rows.csv was rejected (see Files)"
    assert app.tray.kind == words.ATTENTION
    assert (words.ATTENTION, said) in words.conditions(app.session.stats)
    qtbot.waitUntil(lambda: said in app.window.summary.texts(), timeout=5000)
    tray = FakeTray.instances[-1]
    qtbot.waitUntil(lambda: any(t == "Some files could not be used" for t, _ in tray.messages), timeout=5000)

    panel = show(qtbot, app, "files")  # a person looks at the Files view
    qtbot.waitUntil(lambda: app.session.stats.get("files_attention") is None, timeout=5000)
    assert seen_files_mark(lab.config.store.path) == app.session.stats["files_newest_id"]
    assert all(said not in text for _, text in words.conditions(app.session.stats))

    rows = {panel.model.row(r).name: panel.model.row(r) for r in range(panel.model.rowCount())}
    bad = rows["lab-with-bad-rows.csv"]
    assert _cell("reason", bad).startswith("1 row rejected: line 3: ")
    assert _cell("outcome", rows["results.xlsx.csv"]) == "Rejected" and "binary" in _cell("reason", rows["results.xlsx.csv"])
    r = next(i for i in range(panel.model.rowCount()) if panel.model.row(i).name == "lab-with-bad-rows.csv")
    panel.table.selectRow(r)
    qtbot.waitUntil(lambda: panel.detail.tabs.tabText(0) == "Rejected rows (1)", timeout=5000)
    assert panel.detail.fields.item(0, 0).text() == "line 3"
    assert panel.detail.fields.item(0, 1).text() == bad.rejects[0][1] and bad.rejects[0][1]
    settle(qtbot, app)


def test_clicking_the_notice_about_files_opens_the_files_view_and_counts_as_seen(qtbot, make_app, lab):
    app = make_app()
    _drop(lab, "lab-with-bad-rows.csv", BAD_ROWS.encode())
    app.session.request_refresh()
    tray = FakeTray.instances[-1]
    qtbot.waitUntil(lambda: any(t == "Some files could not be used" for t, _ in tray.messages), timeout=5000)
    assert app.window.panel.current.key != "files"
    tray.messageClicked.emit()
    qtbot.waitUntil(lambda: app.session.stats.get("files_attention") is None, timeout=5000)
    assert app.window.panel.current.key == "files" and app.window.isVisible()


def test_files_that_match_no_pattern_are_listed_as_ignored(lab, tmp_path):
    class Reporting(StoreReader):  # an agent that reports ignored files (status key ignored_files)
        def stats(self):
            return {**super().stats(), "ignored_files": [{"folder": str(lab.folder / "inbox"), "name": "notes.docx"}]}

    reader = Reporting(lab.config.store.path, (), lab.clock)
    try:
        page = FileSource(reader, None, lab.config.watches).page((0, 0), 10)
        first = page.rows[0]
        assert isinstance(first, FileRow) and first.name == "notes.docx"
        assert [_cell(k, first) for k in ("received", "outcome", "accepted", "rejected")] == ["", "Ignored", "", ""]
        assert "matches none of the folder's file patterns" in _cell("reason", first)
        assert all(r.outcome != "ignored" for r in page.rows[1:])
        more = FileSource(reader, None, lab.config.watches).page(page.cursor, 10)
        assert all(r.name != "notes.docx" for r in more.rows)  # listed once, on the first page
        assert FileSource(reader, "docx", lab.config.watches).page((0, 0), 10).rows[0].name == "notes.docx"
    finally:
        reader.close()
    assert ignored_rows({}) == [] and ignored_rows({"ignored_files": None}) == []  # agents without the key
