"""Parsing and hashing of bodies (pure functions): the canonical forms are exactly the specified ones."""

from __future__ import annotations

import csv
import hashlib
import io
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from server_stub import canonical
from server_stub.payload import PayloadError, Rules, _plain_rows, parse, rows_at


def spec_row(header, values) -> str:
    mapping = {name.strip(): value.strip() for name, value in zip(header, values)}
    return json.dumps(mapping, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def spec_item(obj) -> str:
    if isinstance(obj, dict) and all(isinstance(v, str) for v in obj.values()):
        return spec_row(obj.keys(), obj.values())
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def write_csv(header, rows, quoting=csv.QUOTE_MINIMAL) -> bytes:
    # CRLF line ends: csv.writer quotes a value holding CR or LF only if both are line-end characters.
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n", quoting=quoting)
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue().encode("utf-8")


# Text that exercises both the plain and the escaping paths: quotes, commas, line breaks, spaces
# (ASCII and not), control characters, backslashes, percent signs and non-ASCII letters.
CELL = st.text(alphabet=st.sampled_from(list('ab Z0é%\\",\n\r\t\x00\x1f\u00a0\u2003\u3000{}:') + ["ö", "😀"]), max_size=8)


@st.composite
def tables(draw):
    names = draw(st.lists(CELL, min_size=1, max_size=6))
    names = [n for i, n in enumerate(names) if n.strip() not in {m.strip() for m in names[:i]}]
    body_rows = draw(st.lists(st.lists(CELL, min_size=len(names), max_size=len(names)), min_size=1, max_size=5))
    return names, body_rows


@settings(max_examples=300, deadline=None)
@given(tables(), st.sampled_from([csv.QUOTE_MINIMAL, csv.QUOTE_ALL]))
def test_csv_rows_hash_exactly_as_specified(table, quoting):
    names, body_rows = table
    text = write_csv(names, body_rows, quoting)
    if not text.strip():  # nothing but spaces and line ends is an empty body
        with pytest.raises(PayloadError):
            parse(text, "text/csv", Rules())
        return
    batch = parse(text, "text/csv", Rules())
    by_index = {item.position: item for item in batch.items}
    assert not batch.problems
    for index, item in by_index.items():
        row = body_rows[index - 1]
        assert item.canonical == spec_row(names, row)
        assert item.content_hash == sha(spec_row(names, row))


@settings(max_examples=200, deadline=None)
@given(st.lists(st.lists(st.text(alphabet="ab ,\r\n\t\x00é", max_size=6), min_size=1, max_size=4), max_size=6))
def test_quote_free_bodies_split_like_the_csv_module(lines):
    text = "\r\n".join(",".join(v.replace("\r", "").replace("\n", "") for v in line) for line in lines)
    expected = [row for row in csv.reader(io.StringIO(text, newline="")) if row]
    assert [row for row in _plain_rows(text) if row] == expected


def test_the_unicode_space_list_is_complete():
    spaces = {chr(c) for c in range(0x80, 0x110000) if chr(c).isspace()}
    assert spaces == set(canonical._UNICODE_SPACES)


@pytest.mark.parametrize(
    "obj",
    [
        {"Result_ID": " r-1 ", " name": "Ann "},
        {"a": 1, "b": [True, None, 2.5], "c": {"z": "y ", "a": "é"}},
        {},
        {"message_id": "m", "n": 12345678901234567890},
    ],
)
def test_json_items_hash_exactly_as_specified(obj):
    [item] = parse(json.dumps(obj).encode(), "application/json", Rules()).items
    assert item.canonical == spec_item(obj)
    assert item.content_hash == sha(spec_item(obj))


def test_a_flat_json_object_and_the_same_csv_row_hash_alike():
    csv_item = parse(b"Result_ID,name\nr-1, Ann\n", "text/csv", Rules()).items[0]
    json_item = parse(b'{"name": "Ann", "Result_ID": "r-1"}', "application/x-ndjson", Rules()).items[0]
    assert csv_item.content_hash == json_item.content_hash


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        (b'[{"a": "\\ud800"}]', "surrogate"),
        (b'[{"a": 1e999}]', "out of range"),
    ],
)
def test_json_values_without_a_canonical_form_are_item_errors(text, problem):
    batch = parse(text, "application/json", Rules())
    assert not batch.items and problem in batch.problems[0].message


def test_tracking_ids_are_the_first_present_column():
    text = b"accession_number,specimen_id,Result_ID\nA1,,R1\nA2,S2,\n , ,\n"
    batch = parse(text, "text/csv", Rules())
    assert [i.tracking_id for i in batch.items] == ["R1", "S2", None]


def test_blank_lines_are_not_rows_and_indices_count_rows():
    text = b"\n\nResult_ID,a\n\nr-1,1\n\n\nr-2\n"
    batch = parse(text, "text/csv", Rules())
    assert [i.position for i in batch.items] == [1] and [p.position for p in batch.problems] == [2]


@pytest.mark.parametrize(
    ("content_type", "text"),
    [
        ("text/csv", b'Result_ID,note\nr-1,"a, b"\n\nr-2,  spaced  \n'),
        ("text/csv", b"Result_ID,note\r\nr-1,x\r\nr-2,y\r\n"),
        ("application/x-ndjson", b'{"message_id": "m1"}\n\n{"message_id": "m2", "x": [1]}\n'),
        ("application/json", b'[{"message_id": "m1"}, {"message_id": "m2", "x": [1]}]'),
    ],
)
def test_rows_read_back_are_the_items_as_sent(content_type, text):
    batch = parse(text, content_type, Rules())
    found = rows_at(text, content_type, {1, 2})
    assert set(found) == {i.position for i in batch.items} == {1, 2}
    if content_type == "text/csv":
        assert spec_row(found[2].keys(), found[2].values()) == batch.items[1].canonical
    else:
        assert spec_item(found[2]) == batch.items[1].canonical


def test_limits():
    with pytest.raises(PayloadError) as info:
        parse(b"Result_ID\n" + b"x\n" * 11, "text/csv", Rules(max_items=10))
    assert info.value.status == 413
