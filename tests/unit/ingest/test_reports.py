"""The rejected-rows file and the error text left beside a file."""

from __future__ import annotations

import csv

from relay.formats.csv_reader import RowReject, open_csv
from relay.ingest.reports import error_name, error_text, rejected_rows_name, write_rejected_rows
from tests.unit.formats.support import read_all, write


def test_rejected_rows_file_opens_in_excel_and_keeps_the_fields(tmp_path):
    source = write(
        tmp_path, 'id,name,comment\r\n1,Peña,ok\r\n2,José\r\n3,a,"b,c",d\r\n4,"x"y,z\r\n'.encode()
    )
    read = read_all(open_csv(source))
    target = tmp_path / rejected_rows_name(source.name)
    assert target.name == "results.csv.rejected-rows.csv"

    assert write_rejected_rows(target, read.file.header, read.rejects) == 3

    raw = target.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf") and b"\r\n" in raw
    with target.open(encoding="utf-8-sig", newline="") as f:
        table = list(csv.reader(f))
    assert table[0] == ["line", "reason", "id", "name", "comment"]
    assert table[1] == ["3", "line 3: 2 fields, header has 3", "2", "José"]
    assert table[2] == ["4", "line 4: 4 fields, header has 3", "3", "a", "b,c", "d"]
    assert table[3][:2] == ["5", read.rejects[2].reason] and table[3][2:] == ["4", "xy", "z"]
    assert list(tmp_path.glob("*.partial")) == []


def test_rejected_rows_file_is_replaced_whole(tmp_path):
    target = tmp_path / "x.csv.rejected-rows.csv"
    target.write_text("old content that must go")
    rejects = [RowReject(7, "line 7: 1 field, header has 2", ("a",))]
    assert write_rejected_rows(target, ("id", "name"), iter(rejects)) == 1
    assert "old content" not in target.read_text(encoding="utf-8-sig")
    assert (
        target.read_text(encoding="utf-8-sig").splitlines()[1]
        == '7,"line 7: 1 field, header has 2",a'
    )


def test_error_text_says_what_file_what_is_wrong_and_what_to_do():
    text = error_text("The file is empty.", "results.csv")
    assert '"results.csv"' in text
    assert "The file is empty." in text
    assert "fix the file and drop it into the folder again" in text
    assert error_name("results.csv") == "results.csv.error.txt"
