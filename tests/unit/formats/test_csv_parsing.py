"""Quoting, delimiters, column order, tracking ids and the two real layouts."""

from __future__ import annotations

import random

import pytest

from relay.formats.csv_reader import (
    DEFAULT_TRACKING_COLUMNS,
    FileRejected,
    Row,
    open_csv,
    parse_csv_bytes,
)
from relay.hashing import row_hash

from .layouts import (
    LOWERCASE_COLUMNS,
    SIMPLE_REPORT_COLUMNS,
    lowercase_rows,
    simple_report_rows,
    to_csv,
)
from .support import read_all, read_bytes, write


def test_quoted_delimiters_quotes_and_newlines(tmp_path):
    data = (
        b"id,comment,result\r\n"
        b'1,"retest, see note",Detected\r\n'
        b'2,"he said ""ok""",Not Detected\r\n'
        b'3,"line one\r\nline two, with comma\r\nline three",Positive\r\n'
        b'4,"",\r\n'
    )
    read = read_bytes(tmp_path, data)
    assert read.values == [
        ("1", "retest, see note", "Detected"),
        ("2", 'he said "ok"', "Not Detected"),
        ("3", "line one\r\nline two, with comma\r\nline three", "Positive"),
        ("4", "", ""),
    ]
    assert read.lines == [2, 3, 4, 7]  # a row's line is the one it starts on


@pytest.mark.parametrize("delimiter", [",", ";", "\t"], ids=["comma", "semicolon", "tab"])
def test_delimiter_is_detected_from_the_header(tmp_path, delimiter):
    rows = lowercase_rows(5, seed=7)
    data = to_csv(LOWERCASE_COLUMNS, rows, delimiter=delimiter)
    read = read_bytes(tmp_path, data)
    assert read.file.delimiter == delimiter
    assert read.file.header == tuple(LOWERCASE_COLUMNS)
    assert read.values == [tuple(r[c] for c in LOWERCASE_COLUMNS) for r in rows]


def test_delimiters_inside_quoted_header_names_do_not_count(tmp_path):
    read = read_bytes(tmp_path, b'"a;b;c",d,e\n1,2,3\n')
    assert read.file.delimiter == ","
    assert read.file.header == ("a;b;c", "d", "e")


def test_excel_sep_line_names_the_delimiter(tmp_path):
    read = read_bytes(tmp_path, b"sep=;\r\nid;name,with comma\r\n1;x,y\r\n")
    assert read.file.delimiter == ";"
    assert read.file.header == ("id", "name,with comma")
    assert read.rows[0].line == 3


def test_same_row_in_two_column_orders_hashes_alike(tmp_path):
    rows = simple_report_rows(3, seed=11)
    shuffled = list(SIMPLE_REPORT_COLUMNS)
    random.Random(5).shuffle(shuffled)
    first = read_bytes(tmp_path, to_csv(SIMPLE_REPORT_COLUMNS, rows), name="a.csv")
    second = read_bytes(tmp_path, to_csv(shuffled, rows), name="b.csv")
    assert first.file.header != second.file.header
    assert [r.content_hash for r in first.rows] == [r.content_hash for r in second.rows]
    assert len({r.content_hash for r in first.rows}) == 3


def test_simple_report_layout(tmp_path):
    rows = simple_report_rows(25, seed=3)
    read = read_bytes(tmp_path, to_csv(SIMPLE_REPORT_COLUMNS, rows, encoding="utf-8-sig"))
    assert read.file.tracking_column == "Result_ID"
    assert len(read.file.header) == len(SIMPLE_REPORT_COLUMNS)
    assert [r.tracking_id for r in read.rows] == [r["Result_ID"] for r in rows]
    assert [r.line for r in read.rows] == list(range(2, 27))
    for row, source in zip(read.rows, rows, strict=True):
        assert dict(zip(read.file.header, row.values, strict=True)) == source
        assert row.content_hash == row_hash(read.file.header, row.values)


def test_simple_report_file_with_fewer_columns_in_another_order(tmp_path):
    columns = [c for c in SIMPLE_REPORT_COLUMNS if not c.startswith("Ordering_provider")]
    random.Random(9).shuffle(columns)
    rows = simple_report_rows(4, seed=4, columns=columns)
    read = read_bytes(tmp_path, to_csv(columns, rows))
    assert 63 <= len(read.file.header) < len(SIMPLE_REPORT_COLUMNS)
    assert read.file.tracking_column == "Result_ID"
    assert [r.tracking_id for r in read.rows] == [r["Result_ID"] for r in rows]


def test_lowercase_upload_layout(tmp_path):
    rows = lowercase_rows(30, seed=5)
    read = read_bytes(tmp_path, to_csv(LOWERCASE_COLUMNS, rows, newline="\n"))
    assert read.file.tracking_column == "accession_number"
    assert [r.tracking_id for r in read.rows] == [r["accession_number"] for r in rows]
    comments = [r.values[LOWERCASE_COLUMNS.index("comment")] for r in read.rows]
    assert comments == [r["comment"] for r in rows]
    assert any("\n" in c for c in comments)  # multi-line comments came through whole


@pytest.mark.parametrize(
    ("header", "configured", "expected"),
    [
        ("accession_number,Result_ID", None, "Result_ID"),  # order of preference, not of columns
        ("specimen_id,message_id", None, "message_id"),
        ("RESULT_ID,x", None, "RESULT_ID"),  # case-insensitive when nothing matches exactly
        ("result_id,accession_number", None, "accession_number"),  # an exact match comes first
        ("x,y", None, None),
        ("Result_ID,Lab_Ref", "Lab_Ref", "Lab_Ref"),
        ("Result_ID,lab_ref", "Lab_Ref", "lab_ref"),
        ("Result_ID,x", "  ", "Result_ID"),  # blank setting = not set
    ],
)
def test_tracking_column_choice(header, configured, expected):
    data = f"{header}\n1,2\n".encode()
    file = parse_csv_bytes(data, tracking_column=configured)
    assert file.tracking_column == expected
    assert DEFAULT_TRACKING_COLUMNS == (
        "Result_ID",
        "message_id",
        "specimen_id",
        "accession_number",
    )
    row = next(iter(file))
    assert isinstance(row, Row)
    expected_id = None if expected is None else ("1" if header.split(",")[0] == expected else "2")
    assert row.tracking_id == expected_id


def test_tracking_id_is_trimmed_and_empty_is_none():
    file = parse_csv_bytes(b"Result_ID,x\n  abc ,0\n,1\n   ,2\n")
    rows = [r for r in file if isinstance(r, Row)]
    assert [r.tracking_id for r in rows] == ["abc", None, None]


def test_missing_configured_tracking_column_is_named(tmp_path):
    path = write(tmp_path, b"Result_ID,x\n1,2\n")
    with pytest.raises(FileRejected, match='no column named "Specimen_Ref"') as caught:
        open_csv(path, tracking_column="Specimen_Ref")
    assert caught.value.reason == str(caught.value)


def test_names_are_trimmed_and_values_kept_as_read(tmp_path):
    read = read_bytes(tmp_path, b" Result_ID , name \n r1 , Pe\xc3\xb1a \n")
    assert read.file.header == ("Result_ID", "name")
    assert read.values == [(" r1 ", " Peña ")]
    assert read.rows[0].content_hash == row_hash(("Result_ID", "name"), ("r1", "Peña"))


def test_leading_blank_lines_before_the_header(tmp_path):
    read = read_bytes(tmp_path, b"\r\n  \r\nid,name\r\n1,a\r\n")
    assert read.file.header == ("id", "name")
    assert read.rows[0].line == 4
    assert read.file.blank_rows == 2


def test_trailing_empty_header_columns_from_excel(tmp_path):
    read = read_bytes(tmp_path, b"id,name,,\r\n1,a,,\r\n2,b\r\n3,c,,oops\r\n")
    assert read.file.header == ("id", "name")
    assert read.values == [("1", "a"), ("2", "b")]
    assert [r.reason for r in read.rejects] == ["line 4: 4 fields, header has 2"]


def test_a_file_can_be_iterated_once(tmp_path):
    file = open_csv(write(tmp_path, b"id,name\n1,a\n"))
    assert len(read_all(file).rows) == 1
    with pytest.raises(RuntimeError):
        iter(file)


def test_open_reads_no_rows_until_iterated(tmp_path):
    file = open_csv(write(tmp_path, b"id,name\n1,a\n2,b\n"))
    assert (file.rows_ok, file.rows_rejected, file.blank_rows) == (0, 0, 0)
    assert file.source_name == "results.csv"
    it = iter(file)
    assert next(it).line == 2  # type: ignore[union-attr]
    assert file.rows_ok == 1


def test_parse_bytes_matches_open_csv(tmp_path):
    data = to_csv(SIMPLE_REPORT_COLUMNS, simple_report_rows(5, seed=8), encoding="utf-8-sig")
    from_file = read_bytes(tmp_path, data)
    from_memory = read_all(parse_csv_bytes(data))
    assert from_memory.file.source_name == "<memory>"
    assert from_memory.file.file_hash == from_file.file.file_hash
    assert [r.content_hash for r in from_memory.rows] == [r.content_hash for r in from_file.rows]
    assert parse_csv_bytes(data, source_name="body.csv").source_name == "body.csv"


def test_missing_file_is_an_os_error(tmp_path):
    with pytest.raises(FileNotFoundError):
        open_csv(tmp_path / "gone.csv")
