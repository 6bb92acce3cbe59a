"""Files that cannot be used at all: one plain sentence saying why."""

from __future__ import annotations

import io
import random
import zipfile

import pytest

from relay.errors import PermanentError, TransientError
from relay.formats.csv_reader import FileChanged, FileRejected, open_csv, parse_csv_bytes

from .support import read_all, write

BINARY = (
    "This looks like a binary file (for example a spreadsheet saved as .xlsx), not a CSV export."
)


def rejected(tmp_path, data: bytes, **kwargs) -> FileRejected:
    path = write(tmp_path, data)
    with pytest.raises(FileRejected) as caught:
        open_csv(path, **kwargs)
    assert isinstance(caught.value, PermanentError)
    assert caught.value.reason == str(caught.value)
    return caught.value


@pytest.mark.parametrize(
    "data",
    [b"", b"   \r\n\t\n", b"\xef\xbb\xbf", b"\xef\xbb\xbf\r\n\r\n  "],
    ids=["zero bytes", "whitespace", "bom only", "bom and whitespace"],
)
def test_empty_file(tmp_path, data):
    assert rejected(tmp_path, data).reason == "The file is empty."


def _fake_xlsx() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("[Content_Types].xml", "<Types/>")
        z.writestr("xl/worksheets/sheet1.xml", "<worksheet>Result_ID,Peña</worksheet>")
    return out.getvalue()


@pytest.mark.parametrize(
    "data",
    [
        _fake_xlsx(),
        random.Random(1).randbytes(4096),
        b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x01\x00",
        b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"old xls" * 20,
        b"id,name\n1,a\n2,\x00b\n",
        bytes(range(1, 32)) * 10 + b",a,b\n",
    ],
    ids=["xlsx", "random", "png", "xls", "nul in text", "control characters"],
)
def test_binary_content(tmp_path, data):
    assert rejected(tmp_path, data).reason == BINARY


def test_nul_far_into_a_large_file_is_found(tmp_path):
    data = b"id,name\n" + b"1,a\n" * 400_000 + b"2,\x00\n"
    assert rejected(tmp_path, data).reason == BINARY


def test_header_without_any_delimiter(tmp_path):
    assert rejected(tmp_path, b"just some words\nmore words\n").reason == (
        "Line 1 is not a CSV header: it has no comma, semicolon or tab."
    )


def test_duplicate_column_is_named(tmp_path):
    assert rejected(tmp_path, b"Result_ID,name, Result_ID\n1,a,b\n").reason == (
        'The column name "Result_ID" appears twice in the header (columns 1 and 3).'
    )


def test_empty_column_name_is_located(tmp_path):
    assert rejected(tmp_path, b"Result_ID,name,,result\n1,a,b,c\n").reason == (
        'Column 3 of the header has no name, after "name".'
    )
    assert rejected(tmp_path, b",name\n1,a\n").reason == "Column 1 of the header has no name."


def test_header_of_only_delimiters(tmp_path):
    assert rejected(tmp_path, b",,,\n1,2,3,4\n").reason == (
        "Line 1 is not a CSV header: all of its column names are empty."
    )


def test_missing_configured_tracking_column(tmp_path):
    reason = rejected(tmp_path, b"Result_ID,name\n1,a\n", tracking_column="accession_number").reason
    assert reason == (
        'The file has no column named "accession_number", '
        "which relay is set to use as the tracking column."
    )


def test_header_line_over_one_megabyte(tmp_path):
    data = b"a," + b"h" * (1024 * 1024) + b"\n1,2\n"
    assert rejected(tmp_path, data).reason == (
        "Line 1 is longer than 1 MB, too long to be a CSV header."
    )


def test_multiline_header_over_one_megabyte(tmp_path):
    data = b'a,"' + b"h\n" * (600 * 1024) + b'"\n1,2\n'
    assert "longer than 1 MB" in rejected(tmp_path, data).reason


def test_more_than_two_thousand_columns(tmp_path):
    header = ",".join(f"c{i}" for i in range(2001)).encode()
    assert rejected(tmp_path, header + b"\n" + b"1," * 2000 + b"1\n").reason == (
        "The header has 2,001 columns, more than the 2,000 relay can read."
    )


def test_two_thousand_columns_are_fine(tmp_path):
    header = ",".join(f"c{i}" for i in range(2000)).encode()
    read = read_all(open_csv(write(tmp_path, header + b"\n" + b"1," * 1999 + b"1\n")))
    assert len(read.file.header) == 2000 and len(read.rows[0].values) == 2000


def test_broken_quote_in_header(tmp_path):
    assert rejected(tmp_path, b'id,"name\n').reason == (
        "Line 1 is not a CSV header: a quote is opened and never closed."
    )
    assert rejected(tmp_path, b'id,"name"x,y\n1,2,3\n').reason == (
        "Line 1 is not a CSV header: a quoted name is followed by other text."
    )


def test_reasons_never_quote_row_content(tmp_path):
    secret = b"Pe\xc3\xb1a-1985"
    file = open_csv(write(tmp_path, b"id,name,x\n1," + secret + b"\n"))
    with pytest.raises(FileRejected) as caught:
        list(file)
    assert "Peña" not in caught.value.reason and "1985" not in caught.value.reason


def test_file_grown_after_opening_is_noticed(tmp_path):
    path = write(tmp_path, b"id,name\n1,a\n")
    file = open_csv(path)
    with path.open("ab") as f:
        f.write(b"2,b\n")
    with pytest.raises(FileChanged) as caught:
        list(file)
    assert isinstance(caught.value, TransientError)
    assert "changed while it was being read" in caught.value.reason


def test_file_rewritten_with_another_encoding_after_opening_is_noticed(tmp_path):
    path = write(tmp_path, "id,name\n1,José\n".encode())
    file = open_csv(path)
    assert file.encoding == "utf-8"
    path.write_bytes(b"id,name\n1,Jos\xe9\n")
    with pytest.raises(FileChanged):
        list(file)


def test_file_with_new_header_after_opening_is_noticed(tmp_path):
    path = write(tmp_path, b"id,name\n1,a\n")
    file = open_csv(path)
    path.write_bytes(b"id,other\n1,a\n")
    with pytest.raises(FileChanged):
        list(file)


def test_bytes_reject_the_same_way():
    with pytest.raises(FileRejected, match="empty"):
        parse_csv_bytes(b"")
    with pytest.raises(FileRejected, match="binary"):
        parse_csv_bytes(_fake_xlsx())
