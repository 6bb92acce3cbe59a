"""The JSON reader: bodies to items, with plain-words refusals that never crash."""

from __future__ import annotations

import json

import jsonschema
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from relay.config import load_schema
from relay.formats import result_schema
from relay.formats.csv_reader import Row, parse_csv_bytes
from relay.formats.json_reader import MAX_DEPTH, MAX_ITEMS, BodyRejected, read_json, read_ndjson
from relay.hashing import canonical_json, decode_values, json_hash, row_hash

FLAT = {"Result_ID": "r-1", "Patient_last_name": "Peña", "Test_result_code": "260415000"}


def one(body: bytes | str, intake_format: str = "csv", **kw):
    data = body.encode() if isinstance(body, str) else body
    items = read_json(data, intake_format=intake_format, **kw)
    assert len(items) == 1
    return items[0]


def refused(body: bytes | str, intake_format: str = "csv", ndjson: bool = False) -> str:
    data = body.encode() if isinstance(body, str) else body
    with pytest.raises(BodyRejected) as info:
        (read_ndjson if ndjson else read_json)(data, intake_format=intake_format)
    return info.value.reason


# -- items ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("intake_format", ["csv", "json", "ndjson"])
def test_a_flat_object_of_text_is_a_row(intake_format):
    item = one(json.dumps(FLAT), intake_format)
    assert item.columns == tuple(sorted(FLAT))
    assert dict(zip(item.columns, decode_values(item.payload))) == FLAT
    assert item.content_hash == json_hash(FLAT) == row_hash(FLAT.keys(), FLAT.values())
    assert item.tracking_id == "r-1"
    assert item.line is None


def test_same_hash_and_storage_as_the_equivalent_csv_row():
    file = parse_csv_bytes("Test_result_code , Result_ID,Patient_last_name\n260415000,r-1 , Peña\n".encode())
    (row,) = [r for r in file if isinstance(r, Row)]
    item = one(json.dumps({"Result_ID": "r-1", "Patient_last_name": "Peña", "Test_result_code": "260415000"}))
    assert item.content_hash == row.content_hash
    assert (item.columns, item.payload) == (file.canonical_columns, row.canonical)


def test_key_order_and_surrounding_spaces_do_not_change_the_hash():
    a = one('{"a": "1", "b": "2"}')
    b = one('{" b ": "2 ", "a": " 1"}')
    assert a.content_hash == b.content_hash
    assert (a.columns, a.payload) == (b.columns, b.payload)


def test_a_nested_object_is_a_document_when_the_intake_takes_json():
    obj = {"z": 1, "Result_ID": "x", "patient": {"name": "A", "codes": [1, 2.5, None, True]}}
    item = one(json.dumps(obj), "json")
    assert item.columns is None
    assert item.payload == canonical_json(obj)
    assert item.payload.startswith('{"Result_ID":"x","patient":{"codes":[1,2.5,null,true]')
    assert item.content_hash == json_hash(obj)
    assert item.tracking_id == "x"


def test_flat_non_text_values_stay_json_for_a_json_intake():
    item = one('{"a": 1, "b": true, "c": null}', "ndjson")
    assert item.columns is None and item.payload == '{"a":1,"b":true,"c":null}'


def test_flat_non_text_values_become_text_for_a_csv_intake():
    item = one('{"Result_ID": 12, "n": 1.5, "ok": false, "none": null}', "csv")
    assert dict(zip(item.columns, decode_values(item.payload))) == {"Result_ID": "12", "n": "1.5", "ok": "false",
                                                                      "none": ""}
    assert item.content_hash == json_hash({"Result_ID": "12", "n": "1.5", "ok": "false", "none": ""})
    assert item.tracking_id == "12"


@pytest.mark.parametrize(("value", "message"), [
    ({"street": "x"}, "item 3: field 'address' is an object; the intake takes CSV, so values must be plain text or "
                      "numbers"),
    (["x"], "item 3: field 'address' is a list; the intake takes CSV"),
])
def test_a_csv_intake_refuses_nested_values(value, message):
    body = json.dumps([{"a": "1"}, {"a": "2"}, {"a": "3", "address": value}])
    assert refused(body, "csv").startswith(message)
    assert len(read_json(body.encode(), intake_format="json")) == 3


def test_an_array_gives_items_in_order():
    items = read_json(json.dumps([{"Result_ID": "a"}, {"message_id": "b"}, {"x": "c"}]).encode(), intake_format="csv")
    assert [i.tracking_id for i in items] == ["a", "b", None]


def test_tracking_id_first_present_default_column_then_case_insensitive():
    assert one('{"specimen_id": "s", "message_id": "m", "x": "1"}').tracking_id == "m"
    assert one('{"result_id": " r9 ", "x": "1"}').tracking_id == "r9"
    assert one('{"Result_ID": "  ", "x": "1"}').tracking_id is None
    assert one('{"Lab": "x", "x": "1"}', tracking_column="lab").tracking_id == "x"


def test_ndjson_skips_blank_lines_and_counts_lines():
    body = b'{"Result_ID": "a"}\r\n\r\n   \n{"Result_ID": "b", "n": 2}\n\n'
    items = read_ndjson(body, intake_format="json")
    assert [(i.tracking_id, i.line) for i in items] == [("a", 1), ("b", 4)]
    assert items[1].columns is None


def test_unknown_intake_format_is_a_programming_error():
    with pytest.raises(ValueError):
        read_json(b"{}", intake_format="xml")


# -- refusals ------------------------------------------------------------------------------------

REFUSALS = [
    (b"", "the body is empty"),
    (b" \r\n\t ", "the body is empty"),
    (b"\xef\xbb\xbf" + json.dumps(FLAT).encode(), "the body starts with a byte order mark (BOM)"),
    (b'{"a": "caf\xe9"}', "the body is not UTF-8 text (line 1, byte 11 of the line)"),
    (b"\x00\x01\x02garbage", "the body is not valid JSON: expecting value at line 1, column 1"),
    (b"<xml/>", "the body is not valid JSON"),
    (b'{"a": "1",}', "the body is not valid JSON: expecting property name"),
    (b'{"a": "1"}\n{"b": "2"}', "send Content-Type application/x-ndjson"),
    (b'"text"', "the body is text; send a JSON object or an array of objects"),
    (b"null", "the body is null"),
    (b"[]", "the body is an empty array"),
    (b'[{"a": "1"}, [1]]', "item 2 is a list, not a JSON object"),
    (b"{}", "item 1 is an empty object; a result needs at least one field"),
    (b'{"": "1"}', "item 1: a field name is empty"),
    (b'{"  ": "1"}', "item 1: a field name is empty"),
    (b'{"a": "1", "a": "2"}', "item 1: the field name 'a' appears twice"),
    (b'[{"x": "1"}, {"b": {"a": 1, "a": 2}}]', "item 2: the field name 'a' appears twice in field 'b'"),
    (b'{"a": "1", " a ": "2"}', "item 1: the field names 'a' and ' a ' are the same once surrounding spaces"),
    (b'{"a": NaN}', "item 1: field 'a' is NaN, Infinity or too large a number"),
    (b'{"a": [1, Infinity]}', "item 1: field 'a[2]' is NaN, Infinity"),
    (b'{"a": -Infinity}', "field 'a' is NaN"),
    (b'{"a": 1e400}', "field 'a' is NaN, Infinity or too large a number"),
    (b'{"a": ' + b"9" * 5000 + b"}", "the body holds a number too long to read"),
    (b'{"a": "\\ud83d"}', "item 1: field 'a' holds an invalid \\u escape"),
    (b'{"\\udc00": "1"}', "item 1: a field name holds an invalid \\u escape"),
    (b"[" * 100_000, "the body is nested too deeply"),
    (b'{"a": ' + b"[" * (MAX_DEPTH + 1) + b"]" * (MAX_DEPTH + 1) + b"}", "field 'a' is nested more than 32 levels"),
]


@pytest.mark.parametrize(("body", "message"), REFUSALS)
def test_refusals_name_the_problem(body, message):
    assert message in refused(body, "json")


def test_ndjson_refusals_name_the_line():
    assert refused(b'{"a": "1"}\n\n{"a": \n', ndjson=True) == "line 3: not valid JSON: expecting value at column 7"
    assert refused(b'{"a": "1"}\n[1]\n', ndjson=True) == "line 2 is a list, not a JSON object"
    assert refused(b'{"a": "1"}\n{"b": {"c": 1}}\n', ndjson=True).startswith("line 2: field 'b' is an object")
    assert refused(b'{"a": "1"}\n{"b": "\xff"}\n', ndjson=True) == "the body is not UTF-8 text (line 2, byte 8 of the line)"
    assert refused(b"\xef\xbb\xbf{}", ndjson=True).startswith("the body starts with a byte order mark")
    assert refused(b"\n \n", ndjson=True) == "the body is empty"


def test_limits_from_the_schema():
    wide = {f"f{i}": "x" for i in range(2001)}
    assert refused(json.dumps(wide)) == "item 1 has 2,001 fields, more than the 2,000 relay takes"
    assert len(one(json.dumps(dict(list(wide.items())[:2000]))).columns) == 2000
    assert refused(json.dumps({"a": "x" * (1024 * 1024 + 1)})) == "item 1: field 'a' is longer than 1,048,576 characters"
    one(json.dumps({"a": "x" * (1024 * 1024)}))
    assert refused(json.dumps({"n" * 1001: "1"})) == "item 1: a field name is longer than 1,000 characters"
    assert "is a list of more than 10,000 values" in refused(json.dumps({"a": [0] * 10_001}), "json")
    assert "field 'a' has 2,001 fields" in refused(json.dumps({"a": wide}), "json")
    assert "a field name in field 'a' is empty" in refused(json.dumps({"a": {"": 1}}), "json")


def test_too_many_results_in_one_body():
    body = json.dumps([{"a": str(i)} for i in range(MAX_ITEMS + 1)]).encode()
    with pytest.raises(BodyRejected, match="10,001 results, more than the 10,000"):
        read_json(body, intake_format="csv")
    lines = b"\n".join(json.dumps({"a": str(i)}).encode() for i in range(MAX_ITEMS + 1))
    with pytest.raises(BodyRejected, match="10,001 results"):
        read_ndjson(lines, intake_format="csv")


# -- properties ----------------------------------------------------------------------------------


def test_the_result_schema_is_valid_draft_2020_12():
    jsonschema.Draft202012Validator.check_schema(load_schema("result.schema.json"))


def test_the_shipped_schema_has_the_shape_the_fast_check_knows():
    assert result_schema._fast_check() is not None


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_any_bytes_give_items_or_a_plain_refusal(data):
    for reader in (read_json, read_ndjson):
        for intake_format in ("csv", "json"):
            try:
                items = reader(data, intake_format=intake_format)
            except BodyRejected as exc:
                assert exc.reason and "\n" not in exc.reason
            else:
                assert items


names = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=6)
scalars = st.none() | st.booleans() | st.integers(-10**6, 10**6) | st.floats(allow_nan=False,
                                                                                allow_infinity=False) | names
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(names, inner, max_size=4),
                      max_leaves=12)


_SCHEMA = load_schema("result.schema.json")
SCHEMA_VALIDATORS = {
    "json": jsonschema.Draft202012Validator(_SCHEMA),
    "csv": jsonschema.Draft202012Validator({**_SCHEMA, "$ref": "#/$defs/flatResult"}),
}


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(names, values, max_size=6), st.sampled_from(["csv", "json"]))
def test_the_reader_agrees_with_the_schema(obj, intake_format):
    """What the reader takes is exactly what jsonschema says the schema takes (given no duplicate
    or space-equal names, which the reader refuses before the schema)."""
    valid = SCHEMA_VALIDATORS[intake_format].is_valid(obj)
    if len({k.strip() for k in obj}) != len(obj):
        return
    try:
        read_json(json.dumps(obj).encode(), intake_format=intake_format)
        taken = True
    except BodyRejected:
        taken = False
    assert taken == valid
