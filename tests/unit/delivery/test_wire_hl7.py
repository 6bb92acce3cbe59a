"""HL7 batch bodies (INTERFACE §8): FHS, BHS, the messages, BTS count, FTS; picked by kind."""

from __future__ import annotations

import hl7

from relay import samples_hl7
from relay.delivery.wire import build_csv, build_hl7, by_kind
from relay.store.models import Member


def test_an_hl7_batch_is_a_valid_fhs_bhs_batch_built_from_wire_when_set():
    members = [Member(1, None, samples_hl7.message(1), "hl7"),
               Member(2, None, "Result_ID\x1fx", "hl7", wire=samples_hl7.message(2).replace("\r", "\n")),
               Member(3, None, samples_hl7.message(3) + "\r", "hl7")]
    spec = build_hl7(members)
    assert spec.content_type == "application/hl7-v2" and spec.item_count == 3
    text = spec.body.decode()
    assert "\n" not in text and text.endswith("BTS|3\rFTS|1\r")
    segments = text.split("\r")
    assert segments[0].startswith("FHS|^~\\&|") and segments[1].startswith("BHS|^~\\&|")
    parsed = hl7.parse_file(text)  # python-hl7 reads it as a file of one batch of three messages
    assert len(parsed) == 1 and len(parsed[0]) == 3
    assert [str(m.segment("MSH")[10]) for m in parsed[0]] == ["1-1", "1-2", "1-3"]


def test_a_batch_stops_at_the_size_limit():
    members = [Member(n, None, samples_hl7.message(n), "hl7") for n in range(10)]
    one = len(samples_hl7.message(0).encode()) + 1
    spec = build_hl7(members, max_bytes=3 * one + 200)
    assert 1 <= spec.item_count < 10
    assert spec.body.endswith(f"BTS|{spec.item_count}\rFTS|1\r".encode())


def test_the_kind_picks_the_builder():
    build = by_kind(build_csv)
    assert build([Member(1, None, samples_hl7.message(1), "hl7")]).content_type == "application/hl7-v2"
    assert build([Member(1, ("a", "b"), "\x1f1\x1f2", "row")]).content_type == "text/csv"
