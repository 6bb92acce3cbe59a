"""Batch bodies: the CSV body is exactly what csv.writer writes, whichever way a row is turned into a line."""

from __future__ import annotations

import csv
import io
import json

from hypothesis import given
from hypothesis import strategies as st

from relay.delivery.wire import build_csv, build_json, build_ndjson
from relay.hashing import encode_values
from relay.store.models import Member

CELL = st.text(alphabet=st.sampled_from(list('ab ,"\r\n\x1f;\t\'é😀')), max_size=6)


def writer_body(columns, rows):
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerow(columns)
    w.writerows(rows)
    return buf.getvalue().encode("utf-8")


@given(st.integers(min_value=1, max_value=5).flatmap(
    lambda width: st.lists(st.lists(CELL, min_size=width, max_size=width), min_size=1, max_size=6)))
def test_csv_body_is_what_csv_writer_writes(rows):
    columns = tuple(f"c{i}" for i in range(len(rows[0])))
    members = [Member(i, columns, encode_values(r)) for i, r in enumerate(rows, start=1)]
    spec = build_csv(members)
    assert spec.body == writer_body(columns, rows)
    assert spec.item_count == len(rows)
    assert list(csv.reader(io.StringIO(spec.body.decode("utf-8"), newline="")))[1:] == rows


def test_csv_body_quotes_only_the_values_that_need_it():
    columns = ("a", "b", "c", "d")
    rows = [["7091 Main St, Apt 0", 'say "hi"', "plain", "two\nlines"], ["", "", "", ""], ["x", "", ",", '"']]
    body = build_csv([Member(i, columns, encode_values(r)) for i, r in enumerate(rows)]).body
    assert body == (b'a,b,c,d\r\n"7091 Main St, Apt 0","say ""hi""",plain,"two\nlines"\r\n,,,\r\n'
                    b'x,,",",""""\r\n')


@given(st.lists(CELL, min_size=9, max_size=40))
def test_a_wide_row_with_many_values_to_quote_is_what_csv_writer_writes(row):
    columns = tuple(f"c{i}" for i in range(len(row)))
    row = [v + "," if i % 2 else v for i, v in enumerate(row)]  # every other value needs quotes
    assert build_csv([Member(1, columns, encode_values(row))]).body == writer_body(columns, [row])


def test_a_single_empty_value_is_written_as_two_quotes():
    body = build_csv([Member(1, ("only",), encode_values([""])), Member(2, ("only",), encode_values(["v"]))]).body
    assert body == b'only\r\n""\r\nv\r\n'


def test_csv_body_stops_before_the_size_limit_and_says_how_many_rows_it_holds():
    columns = ("a", "b")
    members = [Member(i, columns, encode_values([f"r{i}", "x" * 50])) for i in range(10)]
    spec = build_csv(members, max_bytes=200)
    lines = spec.body.decode().split("\r\n")
    assert spec.item_count == 3 and lines[1].startswith("r0,") and len(spec.body) <= 200
    assert len(lines) == spec.item_count + 2  # header, rows, and the empty string after the last line end


def test_flat_json_items_become_csv_rows_and_json_bodies_keep_values():
    doc = Member(1, None, json.dumps({"Result_ID": "r1", "Note": "a,b"}))
    assert build_csv([doc]).body == b'Result_ID,Note\r\nr1,"a,b"\r\n'
    row = Member(2, ("Note", "Result_ID"), encode_values(["c", "r2"]))
    assert build_ndjson([row]).body == b'{"Note":"c","Result_ID":"r2"}\n'
    assert json.loads(build_json([doc, row]).body) == [{"Result_ID": "r1", "Note": "a,b"},
                                                       {"Note": "c", "Result_ID": "r2"}]
