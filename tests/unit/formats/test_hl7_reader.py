"""The HL7 v2 reader: messages, batches, framing, separators, charsets, the §8 hash."""

from __future__ import annotations

import hl7
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from relay import samples_hl7
from relay.formats.hl7 import Hl7Item, Hl7Reader, Hl7Reject, canonical_form, codec_for, hl7_body_items, looks_like_hl7, read_hl7_bytes
from relay.formats.json_reader import BodyRejected


def items(data: bytes) -> list[Hl7Item | Hl7Reject]:
    return read_hl7_bytes(data)[1]


def good(data: bytes) -> list[Hl7Item]:
    out = items(data)
    assert all(isinstance(r, Hl7Item) for r in out), [getattr(r, "reason", "") for r in out]
    return out  # type: ignore[return-value]


MSG = samples_hl7.message(1)


@pytest.mark.parametrize("sep", [b"\r", b"\n", b"\r\n"])
def test_segment_separators_give_the_same_item(sep):
    data = MSG.encode().replace(b"\r", sep)
    [record] = good(data)
    [reference] = good(MSG.encode())
    assert record.item.content_hash == reference.item.content_hash
    assert record.item.payload == MSG  # stored with CR separators
    assert record.item.tracking_id == "1-1"
    assert record.item.kind == "hl7"


def test_a_resend_with_new_time_and_control_id_is_the_same_result():
    resend = samples_hl7.message(1, control_id="NEW-99", sent_at=samples_hl7.BASE.replace(year=2027))
    assert resend != MSG
    [a], [b] = good(MSG.encode()), good(resend.encode())
    assert a.item.content_hash == b.item.content_hash
    assert b.item.tracking_id == "NEW-99"


def test_trailing_empty_fields_and_components_do_not_change_the_hash_but_a_value_does():
    padded = MSG.replace("|F|||", "|F^^|||").replace("\rSFT|", "||||\rSFT|", 1)
    changed = MSG.replace("ORC|RE|", "ORC|RX|")
    hashes = [good(m.encode())[0].item.content_hash for m in (MSG, padded, changed)]
    assert hashes[0] == hashes[1]
    assert hashes[0] != hashes[2]


def test_the_encoding_characters_come_from_msh2():
    # field separator '#', components '!', repetitions '$', escape '\', subcomponents '%'
    message = ("MSH#!$\\%#LAB#FAC#RS#RSF#20240101##ORU!R01!ORU_R01#C-1#P#2.5.1\r"
               "PID#1##12!!!X!MR##Doe!Jane!!##19800101#F\rOBX#1#CWE#94500-6!SARS!LN##260373001!Detected!!#")
    trimmed = message.replace("Detected!!#", "Detected")
    [a], [b] = good(message.encode()), good(trimmed.encode())
    assert a.item.tracking_id == "C-1"
    assert a.header.trigger == "R01" and a.header.field_sep == "#" and a.header.encoding == "!$\\%"
    assert a.item.content_hash == b.item.content_hash


def test_batches_and_mllp_framed_files():
    messages = [samples_hl7.message(n) for n in range(5)]
    reader, records = read_hl7_bytes(samples_hl7.batch(messages, batch_id="B-7").encode())
    assert [r.item.tracking_id for r in records] == [f"1-{n}" for n in range(5)]
    assert reader.bhs_control_id == "B-7" and reader.fhs_control_id == "B-7"
    framed = b"\x00\r\n".join(samples_hl7.frame(m) for m in messages)
    assert [r.item.tracking_id for r in good(framed)] == [f"1-{n}" for n in range(5)]


def test_charset_from_msh18_and_the_windows_1252_fallback():
    latin = MSH18(MSG, "8859/1").replace("Springfield", "Zürich").encode("latin-1")
    assert "Zürich" in good(latin)[0].item.payload
    no_charset = MSG.replace("Springfield", "Zürich – ok").encode("cp1252")  # not UTF-8: falls back
    assert "Zürich – ok" in good(no_charset)[0].item.payload
    utf8 = MSH18(MSG, "UNICODE UTF-8").replace("Springfield", "Zürich").encode("utf-8")
    assert "Zürich" in good(utf8)[0].item.payload
    [bad] = items(MSG.encode("utf-8") + b"\x81\x8d")
    assert isinstance(bad, Hl7Reject) and "cannot be decoded" in bad.reason
    [utf16] = items(MSH18(MSG, "UNICODE UTF-16").encode())
    assert isinstance(utf16, Hl7Reject) and "character set" in utf16.reason
    assert codec_for("") == "utf-8" and codec_for("ascii") == "ascii"


def MSH18(message: str, charset: str) -> str:
    msh, rest = message.split("\r", 1)
    fields = msh.split("|")
    fields += [""] * (18 - len(fields))
    fields[17] = charset
    return "|".join(fields) + "\r" + rest


def test_bad_messages_are_rejected_with_reasons_and_the_good_ones_kept():
    data = ("garbage before anything\r" + samples_hl7.message(1) + "\r" + "MSH|^~\\&|A|B|C|D|2024||\r"
            + samples_hl7.message(2) + "\rthis line is not a segment\r" + samples_hl7.message(3)).encode()
    reader, records = read_hl7_bytes(data)
    kinds = [type(r).__name__ for r in records]
    assert kinds == ["Hl7Reject", "Hl7Item", "Hl7Reject", "Hl7Reject", "Hl7Item"]
    reasons = [r.reason for r in records if isinstance(r, Hl7Reject)]
    assert "no MSH segment" in reasons[0]
    assert "MSH-9" in reasons[1]
    assert "segment name" in reasons[2]  # message 2 holds a line that is not a segment
    assert reader.messages == 2 and reader.rejected == 3
    assert records[0].raw == b"garbage before anything"


def test_reads_in_chunks_split_anywhere_give_the_same_items():
    data = samples_hl7.batch([samples_hl7.message(n) for n in range(20)]).encode().replace(b"\r", b"\r\n")
    whole = [r.item.content_hash for r in good(data)]
    for size in (1, 7, 1000):
        chunks = [data[i:i + size] for i in range(0, len(data), size)]
        got = [r.item.content_hash for r in Hl7Reader(chunks)]
        assert got == whole


def test_agrees_with_python_hl7_on_the_fields_it_reads():
    for n in range(30):
        text = samples_hl7.message(n, seed=3)
        [record] = good(text.encode())
        reference = hl7.parse(text)
        assert record.item.tracking_id == str(reference.segment("MSH")[10])
        assert record.header.trigger == str(reference["MSH.F9.R1.C2"])
        assert record.header.version == str(reference.segment("MSH")[12])
        assert record.item.payload.split("\r") == [str(seg) for seg in reference]


def test_auto_detection():
    assert looks_like_hl7(b"\xef\xbb\xbf\r\n  MSH|^~\\&|")
    assert looks_like_hl7(b"FHS|^~\\&") and looks_like_hl7(b"BHS|^~\\&") and looks_like_hl7(b"\n\x0bMSH|")
    assert not looks_like_hl7(b"Result_ID,Patient_last_name\r\n1,x")
    assert not looks_like_hl7(b"MSH,comma")


def test_request_bodies_are_all_or_nothing():
    assert len(hl7_body_items(samples_hl7.batch([samples_hl7.message(n) for n in range(3)]).encode())) == 3
    with pytest.raises(BodyRejected, match="message 2"):
        hl7_body_items((samples_hl7.message(1) + "\rMSH|^~\\&|x").encode())
    with pytest.raises(BodyRejected, match="no HL7 message"):
        hl7_body_items(b"\r\n")


SEGMENT_TEXT = st.text(alphabet=st.sampled_from(list("ab^~&|")), max_size=30)


@settings(deadline=None)
@given(st.lists(SEGMENT_TEXT, min_size=1, max_size=5), st.text(alphabet=st.sampled_from(list("x^~&|")), max_size=40))
def test_the_canonical_form_agrees_with_the_stubs_independent_code(bodies, msh_tail):
    from server_stub.hl7 import canonical as stub_canonical

    lines = ["MSH|^~\\&|" + msh_tail] + ["OBX|" + body for body in bodies]
    assert canonical_form(lines, "|", "^~\\&") == stub_canonical(lines)
