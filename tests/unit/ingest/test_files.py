"""A file into the outbox: all rows or none, ledger, duplicates, row and file rejects with reports."""

from __future__ import annotations

import csv

import pytest

from relay.ingest.files import ingest_file
from relay.samples import SIMPLE_REPORT_COLUMNS, write_simple_report
from relay.store.outbox import Outbox

T0 = 1_767_225_600.0


@pytest.fixture
def outbox(tmp_path):
    box = Outbox(tmp_path / "o.db")
    yield box
    box.close()


def take(outbox, path, now=T0, **kw):
    return ingest_file(outbox, path, client="simple_report.default", source="watch", now=now,
                       report_dir=kw.pop("report_dir", path.parent), **kw)


def test_good_file_all_rows_with_tracking_ids(outbox, tmp_path):
    path = write_simple_report(tmp_path / "results.csv", 25)
    out = take(outbox, path)
    assert (out.status, out.accepted, out.duplicates, out.rows_rejected) == ("accepted", 25, 0, 0)
    items = outbox.list_items(limit=100)
    assert len(items) == 25 and all(i.tracking_id and len(i.tracking_id) == 36 for i in items)
    assert items[0].columns == tuple(sorted(SIMPLE_REPORT_COLUMNS)) and items[0].source_name == "results.csv"
    assert outbox.counts().files_processed == 1


def test_same_file_again_counts_nothing_twice(outbox, tmp_path):
    path = write_simple_report(tmp_path / "results.csv", 10)
    take(outbox, path)
    again = take(outbox, path, now=T0 + 60)
    assert again.status == "already" and again.accepted == 10
    c = outbox.counts()
    assert c.by_state["pending"] == 10 and c.duplicates == 0 and c.files_processed == 1


def test_copy_under_another_name_counts_every_row_as_duplicate(outbox, tmp_path):
    path = write_simple_report(tmp_path / "results.csv", 10)
    take(outbox, path)
    copy = tmp_path / "results (1).csv"
    copy.write_bytes(path.read_bytes())
    out = take(outbox, copy)
    assert (out.status, out.accepted, out.duplicates) == ("accepted", 0, 10)
    assert outbox.counts().duplicates == 10 and outbox.count_items() == 10


def test_overlapping_reexport_adds_only_new_rows(outbox, tmp_path):
    take(outbox, write_simple_report(tmp_path / "monday.csv", 10))
    tuesday = write_simple_report(tmp_path / "tuesday.csv", 10, start=5)  # rows 5..14
    out = take(outbox, tuesday)
    assert (out.accepted, out.duplicates) == (5, 5)


def test_column_order_does_not_defeat_duplicate_suppression(outbox, tmp_path):
    take(outbox, write_simple_report(tmp_path / "a.csv", 5))
    reordered = tuple(reversed(SIMPLE_REPORT_COLUMNS))
    out = take(outbox, write_simple_report(tmp_path / "b.csv", 5, columns=reordered))
    assert out.duplicates == 5


def test_windows_1252_export(outbox, tmp_path):
    path = write_simple_report(tmp_path / "old.csv", 20, encoding="cp1252")
    take(outbox, path)
    payloads = " ".join(i.payload for i in outbox.list_items(limit=50))
    assert "Peña" in payloads or "José" in payloads
    assert "\ufffd" not in payloads


def test_bad_rows_go_to_report_with_reason_and_good_rows_are_kept(outbox, tmp_path):
    path = tmp_path / "mixed.csv"
    path.write_text("Result_ID,Patient_last_name,Test_result_code\r\nA1,Smith,260415000\r\nA2,Short\r\n"
                    "A3,Jones,260373001\r\n", encoding="utf-8")
    out = take(outbox, path)
    assert (out.accepted, out.rows_rejected) == (2, 1)
    report = tmp_path / "mixed.csv.rejected-rows.csv"
    assert out.rows_report == report
    with report.open(encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.reader(fh))
    assert rows[0][:2] == ["line", "reason"] and rows[0][2:] == ["Result_ID", "Patient_last_name", "Test_result_code"]
    assert rows[1][0] == "3" and "2 fields" in rows[1][1]
    assert outbox.known_file(out_hash(path), "mixed.csv").rows_rejected == 1


def out_hash(path):
    from relay.ingest.files import file_sha256

    return file_sha256(path)


@pytest.mark.parametrize("content, words", [
    (b"", "empty"),
    (b"Result_ID,Patient_last_name\r\n", "no data rows"),
    (b"PK\x03\x04" + bytes(range(256)) * 20, "binary"),
])
def test_rejected_file_gets_plain_words_error_and_ledger_entry(outbox, tmp_path, content, words):
    path = tmp_path / "bad.csv"
    path.write_bytes(content)
    out = take(outbox, path)
    assert out.status == "rejected" and words in out.reason.lower()
    text = (tmp_path / "bad.csv.error.txt").read_text(encoding="utf-8")
    assert "bad.csv" in text and words in text.lower()
    assert outbox.counts().files_rejected == 1 and outbox.count_items() == 0
    assert not (tmp_path / "bad.csv.rejected-rows.csv").exists()
    assert take(outbox, path).status == "rejected"  # met again: the same answer, no new ledger row
    assert outbox.counts().files_rejected == 1


def test_file_whose_every_row_is_bad_is_rejected_whole_and_nothing_stored(outbox, tmp_path):
    path = tmp_path / "ragged.csv"
    path.write_text("a,b,c\n1\n2\n3\n", encoding="utf-8")
    out = take(outbox, path)
    assert out.status == "rejected" and outbox.count_items() == 0
    assert not list(tmp_path.glob("*.partial"))


def test_vanished_file_is_transient(outbox, tmp_path):
    from relay.errors import TransientError

    with pytest.raises(TransientError):
        take(outbox, tmp_path / "gone.csv")
