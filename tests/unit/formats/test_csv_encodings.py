"""Encodings and line endings real exports arrive in."""

from __future__ import annotations

import pytest

from relay.formats.csv_reader import FileRejected, open_csv
from relay.formats.text_probe import CHUNK_BYTES
from relay.hashing import row_hash

from .support import read_bytes, write

TEXT = "Result_ID,Patient_last_name,Patient_first_name\r\nr1,Peña,José\r\nr2,Müller,Renée\r\n"
EXPECTED = [("r1", "Peña", "José"), ("r2", "Müller", "Renée")]


def test_utf8_without_bom(tmp_path):
    read = read_bytes(tmp_path, TEXT.encode("utf-8"))
    assert read.file.encoding == "utf-8"
    assert read.values == EXPECTED


def test_utf8_with_bom_from_excel(tmp_path):
    read = read_bytes(tmp_path, TEXT.encode("utf-8-sig"))
    assert read.file.encoding == "utf-8-sig"
    assert read.file.header[0] == "Result_ID"  # the BOM is not part of the first column's name
    assert read.file.tracking_column == "Result_ID"
    assert read.values == EXPECTED


def test_windows_1252_from_older_exports(tmp_path):
    read = read_bytes(tmp_path, TEXT.encode("cp1252"))
    assert read.file.encoding == "cp1252"
    assert read.values == EXPECTED


def test_same_row_hashes_alike_in_utf8_and_cp1252(tmp_path):
    utf8 = read_bytes(tmp_path, TEXT.encode("utf-8"), name="a.csv")
    cp1252 = read_bytes(tmp_path, TEXT.encode("cp1252"), name="b.csv")
    assert [r.content_hash for r in utf8.rows] == [r.content_hash for r in cp1252.rows]
    assert utf8.file.file_hash != cp1252.file.file_hash


def test_cp1252_specials_and_undefined_bytes_survive(tmp_path):
    # 0x80 is the euro sign in Windows-1252; 0x81 and 0x9D are undefined there and come out as
    # the Latin-1 control characters rather than raising or being replaced.
    data = b"a,b\r\n\x80 5,x\x81y\x9dz\r\nPe\xf1a,Jos\xe9\r\n"
    read = read_bytes(tmp_path, data)
    assert read.file.encoding == "cp1252"
    assert read.values == [("€ 5", "x\x81y\x9dz"), ("Peña", "José")]


def test_bom_in_front_of_cp1252_text_is_dropped(tmp_path):
    read = read_bytes(tmp_path, b"\xef\xbb\xbfResult_ID,name\r\n1,Pe\xf1a\r\n")
    assert read.file.encoding == "cp1252"
    assert read.file.header == ("Result_ID", "name")
    assert read.values == [("1", "Peña")]


def test_invalid_utf8_far_into_the_file_switches_the_whole_file(tmp_path):
    pad = b" " * 1000
    filler = b"".join(b"%d,Jos\xc3\xa9%s\n" % (i, pad) for i in range(CHUNK_BYTES // 1000))
    data = b"id,name\n" + filler + b"last,Pe\xf1a\n"
    assert len(data) > CHUNK_BYTES  # the bad byte is in a later chunk of the first pass
    read = read_bytes(tmp_path, data)
    assert read.file.encoding == "cp1252"
    assert read.values[0] == ("0", "JosÃ©" + " " * 1000)  # UTF-8 bytes read as cp1252, throughout
    assert read.values[-1] == ("last", "Peña")


def test_utf8_character_split_across_read_chunks_is_still_utf8(tmp_path):
    head = b"id,name\n1,"
    pad = b"x" * (CHUNK_BYTES - len(head) - 1)
    data = head + pad + "é".encode() + "\n2,José\n".encode()
    assert data[CHUNK_BYTES - 1 : CHUNK_BYTES + 1] == "é".encode()
    read = read_bytes(tmp_path, data)
    assert read.file.encoding == "utf-8"
    assert read.values == [("1", "x" * len(pad) + "é"), ("2", "José")]


@pytest.mark.parametrize(
    "newline", ["\r\n", "\n", "\r"], ids=["crlf", "lf", "cr-only (old Mac Excel)"]
)
def test_line_endings(tmp_path, newline):
    text = newline.join(["id,name", "1,Peña", '2,"two', 'lines"', "3,José", ""])
    read = read_bytes(tmp_path, text.encode())
    assert read.values == [("1", "Peña"), ("2", f"two{newline}lines"), ("3", "José")]
    assert read.lines == [2, 3, 5]


def test_mixed_line_endings(tmp_path):
    read = read_bytes(tmp_path, b"id,name\r\n1,a\n2,b\r\n\n3,c\r4,d")
    assert read.values == [("1", "a"), ("2", "b"), ("3", "c"), ("4", "d")]
    assert read.lines == [2, 3, 5, 6]
    assert read.file.blank_rows == 1


def test_no_newline_at_end_of_file(tmp_path):
    read = read_bytes(tmp_path, b"id,name\n1,a\n2,b")
    assert read.values == [("1", "a"), ("2", "b")]


def test_utf16_is_refused_with_advice(tmp_path):
    path = write(tmp_path, TEXT.encode("utf-16"))
    with pytest.raises(FileRejected, match=r"UTF-16.*CSV UTF-8"):
        open_csv(path)


def test_file_hash_and_size_are_of_the_raw_bytes(tmp_path):
    import hashlib

    data = TEXT.encode("utf-8-sig")
    read = read_bytes(tmp_path, data)
    assert read.file.size == len(data)
    assert read.file.file_hash == hashlib.sha256(data).hexdigest()
    assert read.rows[0].content_hash == row_hash(read.file.header, EXPECTED[0])
