"""A JSON array body read through the moving window gives the items, and the error messages, of a
whole read: elements, numbers and multi-byte characters cut at any piece boundary."""

from __future__ import annotations

import json

import pytest

from relay.formats import json_stream
from relay.formats.json_reader import BodyRejected, read_json
from relay.formats.json_stream import NotPlain, elements, first_byte


def _results(count: int) -> list[dict[str, str]]:
    return [{"Result_ID": f"R{n}", "Patient": "Zoë Ångström ✓ 😀", "Value": str(n * 7)} for n in range(count)]


def _read(body: bytes) -> list:
    try:
        return read_json(body, intake_format="json")
    except BodyRejected as exc:
        return [exc.reason]


@pytest.mark.parametrize("piece", [1, 2, 3, 7, 64, 1 << 20])
def test_items_are_the_same_whatever_the_piece_size(monkeypatch, piece):
    body = (" \r\n" + json.dumps(_results(40), indent=1, ensure_ascii=False) + "\n\t").encode()
    whole = _read(body)
    assert len(whole) == 40
    monkeypatch.setattr(json_stream, "PIECE_BYTES", piece)
    assert _read(body) == whole
    assert _read(bytearray(body)) == whole


@pytest.mark.parametrize("piece", [1, 5, 1 << 20])
def test_numbers_and_literals_cut_by_a_piece_end_are_read_whole(monkeypatch, piece):
    monkeypatch.setattr(json_stream, "PIECE_BYTES", piece)
    body = b'[123456789, true, null, {"a": 1.25e10}]'
    assert list(elements(body, json.JSONDecoder())) == [123456789, True, None, {"a": 1.25e10}]


@pytest.mark.parametrize("body", [
    b'[{"a": "1"}, {"a": "2"}',  # never closed
    b'[{"a": "1"}, {"a": "2"},]',  # trailing comma
    b'[{"a": "1"}] x',  # trailing data
    b'[{"a": "1"} {"a": "2"}]',  # no comma
    b'[]',
    b'[{"a": "1"}, {"a": "\xff"}]',  # not UTF-8, late in the body
    b'[{"a": "1"}, {"a": "\xe2\x9c"}]',  # a character cut short
])
def test_anything_not_plain_is_left_to_the_whole_read(monkeypatch, body):
    monkeypatch.setattr(json_stream, "PIECE_BYTES", 3)
    with pytest.raises(NotPlain):
        list(elements(body, json.JSONDecoder()))


@pytest.mark.parametrize("body", [
    b'[{"a": "1"}, {"a": "2"},]',
    b'[{"a": "1"}] x',
    b'[{"a": "1"}, {"a": "\xff"}]',
    b'[{"a": "1"}, 5, {"a": "2"',  # a refused result before a broken end: the broken body is said
    b'[{"a": "1"}, {"a": {"b": [1, 2]}, "a": "2"}]',
    b'[]',
    b'  ',
    b'\xef\xbb\xbf[{"a": "1"}]',
])
def test_messages_are_those_of_a_whole_read(monkeypatch, body):
    with pytest.raises(BodyRejected) as big:
        read_json(body, intake_format="json")
    monkeypatch.setattr(json_stream, "PIECE_BYTES", 2)
    with pytest.raises(BodyRejected) as small:
        read_json(body, intake_format="json")
    assert small.value.reason == big.value.reason
    assert "item" in big.value.reason or "body" in big.value.reason


def test_first_byte_skips_only_json_whitespace():
    assert first_byte(b" \t\r\n[") == b"["
    assert first_byte(bytearray(b"\n{")) == b"{"
    assert first_byte(b" \x0b[") == b"\x0b"
    assert first_byte(b" \n ") == b""
