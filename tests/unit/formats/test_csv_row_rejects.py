"""Malformed rows inside an otherwise good file: rejected one by one, the good rows kept."""

from __future__ import annotations

import csv
import sys

import pytest

from relay.formats.csv_reader import FIELD_LIMIT, FileRejected, Row, RowReject, open_csv

from .support import read_all, read_bytes, write

MB = 1024 * 1024


def test_row_with_fewer_fields_than_the_header(tmp_path):
    read = read_bytes(tmp_path, b"id,name,result\r\n1,a,x\r\n2,b\r\n3,c,z\r\n")
    assert read.values == [("1", "a", "x"), ("3", "c", "z")]
    assert [(r.line, r.reason, r.fields) for r in read.rejects] == [
        (3, "line 3: 2 fields, header has 3", ("2", "b"))
    ]
    assert read.lines == [2, 3, 4]  # rows and rejects come in file order


def test_single_field_row_reason_is_singular(tmp_path):
    read = read_bytes(tmp_path, b"id,name\n1,a\n2\n")
    assert read.rejects[0].reason == "line 3: 1 field, header has 2"


def test_row_with_more_fields_than_the_header(tmp_path):
    read = read_bytes(tmp_path, b"id,name\n1,a,extra\n2,b\n")
    assert read.values == [("2", "b")]
    assert read.rejects[0].reason == "line 2: 3 fields, header has 2"
    assert read.rejects[0].fields == ("1", "a", "extra")


def test_trailing_empty_fields_are_accepted_trimmed(tmp_path):
    read = read_bytes(tmp_path, b"id,name\r\n1,a,,,\r\n2,b, ,\r\n")
    assert read.values == [("1", "a"), ("2", "b")]
    assert read.rejects == []


def test_field_over_one_megabyte_is_rejected_and_reading_goes_on(tmp_path):
    big = b"x" * (MB + 1)
    data = b"id,comment,result\n1,ok,D\n2," + big + b",D\n3,fine,N\n"
    read = read_bytes(tmp_path, data)
    assert read.values == [("1", "ok", "D"), ("3", "fine", "N")]
    [reject] = read.rejects
    assert reject.reason == 'line 3: the value in column "comment" is longer than 1 MB'
    assert reject.fields[0] == "2"
    assert len(reject.fields[1]) == FIELD_LIMIT  # kept up to the limit, no further
    assert reject.fields[2] == "D"


def test_field_of_exactly_one_megabyte_is_fine(tmp_path):
    read = read_bytes(tmp_path, b"id,comment\n1," + b"y" * FIELD_LIMIT + b"\n")
    assert len(read.rows[0].values[1]) == FIELD_LIMIT


def test_huge_quoted_multiline_field_does_not_spill_into_rows(tmp_path):
    # The lines inside the oversized quoted value look like rows; none of them may become one.
    inner = b"".join(b"9,fake,row %d\n" % i for i in range(MB // 12 + 10))
    data = b'id,comment,result\n1,ok,D\n2,"' + inner + b'",D\n3,fine,N\n'
    read = read_bytes(tmp_path, data)
    assert read.values == [("1", "ok", "D"), ("3", "fine", "N")]
    [reject] = read.rejects
    last = 3 + inner.count(b"\n")
    assert reject.reason == (
        f'line 3: the value in column "comment" is longer than 1 MB (lines 3 to {last})'
    )
    assert read.rows[1].line == last + 1


def test_row_over_eight_megabytes_is_rejected(tmp_path):
    field = b"z" * (MB - 10)
    data = b"a,b,c,d,e,f,g,h,i,j\n" + b",".join([field] * 10) + b"\nk,l,m,n,o,p,q,r,s,t\n"
    read = read_bytes(tmp_path, data)
    assert [r.reason for r in read.rejects] == ["line 2: the row is longer than 8 MB"]
    assert read.values == [tuple("klmnopqrst")]
    assert read.rows[0].line == 3


def test_other_code_raising_the_csv_field_limit_does_not_let_big_fields_through(tmp_path):
    data = b"id,comment\n1,a\n2," + b"x" * (MB + 5) + b"\n3,c\n"
    items = iter(open_csv(write(tmp_path, data)))
    old = csv.field_size_limit()
    try:
        assert next(items).line == 2  # type: ignore[union-attr]
        csv.field_size_limit(sys.maxsize)  # e.g. another library, after reading began
        rest = list(items)
    finally:
        csv.field_size_limit(old)
    assert isinstance(rest[0], RowReject)
    assert rest[0].reason == 'line 3: the value in column "comment" is longer than 1 MB'
    assert isinstance(rest[1], Row) and rest[1].values == ("3", "c")


def test_stray_quote_after_a_quoted_value(tmp_path):
    read = read_bytes(tmp_path, b'id,name,x\n1,"a"b,c\n2,ok,d\n')
    assert read.values == [("2", "ok", "d")]
    [reject] = read.rejects
    assert reject.line == 2
    assert reject.reason == (
        "line 2: a quoted value is followed by other text before the next comma; "
        "a quote inside a value must be written twice"
    )
    assert reject.fields == ("1", "ab", "c")


def test_stray_opening_quote_swallowing_lines_is_contained(tmp_path):
    data = b'id,name,x\n1,"5 in,c\n2,ok,d\n3,"q",e\n4,fine,f\n'
    read = read_bytes(tmp_path, data)
    # The quote opened on line 2 closes at the quote opening "q" on line 4; lines 2-4 are one
    # broken record, and reading picks up cleanly on line 5.
    assert read.values == [("4", "fine", "f")]
    assert [(r.line, r.reason.split(";")[0]) for r in read.rejects] == [
        (2, "line 2: a quoted value is followed by other text before the next comma (lines 2 to 4)")
    ]
    assert read.rows[0].line == 5


def test_quote_inside_an_unquoted_value_is_just_a_character(tmp_path):
    read = read_bytes(tmp_path, b'id,size\n1,5" swab\n')
    assert read.values == [("1", '5" swab')]


def test_unterminated_quote_at_end_of_file(tmp_path):
    read = read_bytes(tmp_path, b'id,name\n1,a\n2,"never closed\n3,c\n4,d\n')
    assert read.values == [("1", "a")]
    [reject] = read.rejects
    assert reject.reason == (
        "line 3: a quoted value has no closing quote, so the rest of the file (lines 3 to 5) "
        "could not be read"
    )
    assert reject.fields == ("2", "never closed\n3,c\n4,d\n")


def test_unterminated_quote_on_the_last_line(tmp_path):
    read = read_bytes(tmp_path, b'id,name\n1,a\n2,"open')
    assert [r.reason for r in read.rejects] == ["line 3: a quoted value has no closing quote"]
    assert read.values == [("1", "a")]


def test_blank_lines_and_empty_rows_are_skipped_and_counted(tmp_path):
    read = read_bytes(tmp_path, b"id,name\r\n\r\n1,a\r\n,\r\n   \r\n,,,,\r\n \t, \r\n2,b\r\n\r\n")
    assert read.values == [("1", "a"), ("2", "b")]
    assert read.lines == [3, 8]
    assert read.file.blank_rows == 6
    assert read.rejects == []


def test_header_and_no_data_rows_is_rejected_at_the_end(tmp_path):
    file = open_csv(write(tmp_path, b"Result_ID,name\r\n"))
    assert file.header == ("Result_ID", "name")  # opening works; the verdict comes at the end
    with pytest.raises(FileRejected, match=r"^The file has a header but no data rows\.$"):
        list(file)


def test_header_and_only_blank_lines_counts_as_no_data_rows(tmp_path):
    file = open_csv(write(tmp_path, b"id,name\n\n,\n\n"))
    with pytest.raises(FileRejected, match="header but no data rows"):
        list(file)
    assert file.blank_rows == 3


def test_no_usable_rows_is_rejected_after_the_rejects_are_yielded(tmp_path):
    file = open_csv(write(tmp_path, b"id,name,x\n1\n2,b\n3,c,d,e\n"))
    seen = []
    with pytest.raises(FileRejected) as caught:
        for item in file:
            seen.append(item)
    assert [r.line for r in seen] == [2, 3, 4]
    assert all(isinstance(r, RowReject) for r in seen)
    assert caught.value.reason == (
        "None of the 3 data rows could be used: line 2: 1 field, header has 3."
    )
    assert (file.rows_ok, file.rows_rejected) == (0, 3)


def test_only_row_unusable(tmp_path):
    with pytest.raises(FileRejected, match=r"^The only data row could not be used: line 2: "):
        list(open_csv(write(tmp_path, b'id,name\n1,"x"y\n')))


def test_many_bad_rows_among_good_ones(tmp_path):
    lines = [b"id,name,result"]
    for i in range(2, 202):
        lines.append(b"%d,n%d" % (i, i) if i % 10 == 0 else b"%d,n%d,D" % (i, i))
    read = read_all(open_csv(write(tmp_path, b"\n".join(lines) + b"\n")))
    assert len(read.rejects) == 20 and len(read.rows) == 180
    assert [r.line for r in read.rejects] == list(range(10, 202, 10))
    assert all(r.values[0] == str(r.line) for r in read.rows)  # line numbers stay exact


def test_dos_end_of_file_mark_is_not_a_row(tmp_path):
    read = read_bytes(tmp_path, b"id,name\r\n1,a\r\n\x1a")
    assert read.values == [("1", "a")]
    assert read.rejects == [] and read.file.blank_rows == 1
