"""Acknowledgements pass hl7apy's strict validation of the v2.5.1 ACK structure."""

from __future__ import annotations

import pytest
from hl7apy.consts import VALIDATION_LEVEL
from hl7apy.parser import parse_message

from relay.formats.hl7 import read_hl7_bytes
from relay.formats.hl7_ack import ack, ack_code

MESSAGE = ("MSH|^~\\&|LIS^1.2.3^ISO|LAB^05D1234567^CLIA|RELAY|SITE|20240101120000||ORU^R01^ORU_R01|CTRL-1|P|2.5.1\r"
           "PID|1||1^^^X^MR||Doe^Jane")


@pytest.mark.parametrize("code, error", [("AA", None), ("AR", "the frame holds no HL7 message"),
                                         ("AE", "the outbox cannot accept the message now: disk full")])
def test_acks_are_valid_hl7(code, error):
    header = read_hl7_bytes(MESSAGE.encode())[1][0].header  # type: ignore[union-attr]
    text = ack(code, "CTRL-1", header=header, site="lab.one", error=error)
    assert ack_code(text) == (code, "CTRL-1")
    parsed = parse_message(text.decode(), validation_level=VALIDATION_LEVEL.STRICT, find_groups=True)
    assert parsed.validate()
    assert parsed.msh.msh_9.value == "ACK^R01^ACK" and parsed.msh.msh_5.value == "LIS^1.2.3^ISO"
    assert parsed.msh.msh_3.value == "relay" and parsed.msh.msh_4.value == "lab.one"
    assert parsed.msh.msh_10.value != "CTRL-1" and parsed.msh.msh_12.value == "2.5.1"
    if error:
        assert parsed.err.err_8.value == error and parsed.err.err_4.value == "E"


def test_an_ack_for_garbage_leaves_msa2_empty_rather_than_invent_an_id():
    # MSA-2 is required by the standard, but there is no control id to echo: an invented one could
    # be matched by the sender to a message it did send.
    text = ack("AR", "", site="lab.one", error="text | with ^ separators")
    parsed = parse_message(text.decode(), validation_level=VALIDATION_LEVEL.TOLERANT, find_groups=True)
    assert parsed.msa.msa_1.value == "AR" and parsed.msa.msa_2.value == ""
    assert parsed.err.err_8.value == "text   with   separators" and parsed.msh.msh_9.value == "ACK^^ACK"


def test_control_ids_are_unique():
    ids = {ack("AA", "x").split(b"|")[9] for _ in range(1000)}
    assert len(ids) == 1000
