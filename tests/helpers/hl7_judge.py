"""The independent judge of produced ELR messages: hl7apy's strict v2.5.1 validation.

``assert_valid_elr`` parses with ``VALIDATION_LEVEL.STRICT`` and ``find_groups=True`` (so the
ORU_R01 groups must be right), runs ``validate`` (cardinality, datatypes, child order) and also reads
hl7apy's value warnings: only the known gaps of its v2.5.1 tables are allowed (it lacks the
HL7nnnn names of table 0396 and the "CLIA" universal id type the ELR guide uses).
"""

from __future__ import annotations

import re
import tempfile
from pathlib import Path

from hl7apy.consts import VALIDATION_LEVEL
from hl7apy.core import Message
from hl7apy.parser import parse_message

ALLOWED_WARNINGS = (
    re.compile(r"Value CLIA not in table HL70301 in element \w+\.HD_3"),
    re.compile(r"Value HL70\d{3} not in table HL70396 in element \w+\.C[EW]E?_3"),
    re.compile(r"Value NULLFL not in table HL70396 in element \w+\.C[EW]E?_3"),
    re.compile(r"Value UNK not in table HL70005 in element PID_10\.CE_1"),
    re.compile(r"Value ASKU not in table HL70005 in element PID_10\.CE_1"),
    re.compile(r"Value \w+ not in table HL70396 in element OBX_5\.CE_3"),  # hl7apy types OBX-5 late
)

ELR_SEGMENTS = re.compile(r"MSH SFT PID ORC OBR (OBX )+SPM")


def validate_elr(text: str) -> Message:
    """The parsed message; raises hl7apy's error when it is not a valid v2.5.1 ORU_R01."""
    message = parse_message(text, validation_level=VALIDATION_LEVEL.STRICT, find_groups=True)
    with tempfile.TemporaryDirectory() as folder:
        report = Path(folder) / "report.txt"
        assert message.validate(report_file=str(report)) is True
        lines = report.read_text(encoding="utf-8").splitlines()
    errors = [line for line in lines if line.startswith("Error")]
    assert errors == []
    unexpected = [line for line in lines if line.startswith("Warning")
                  and not any(p.search(line) for p in ALLOWED_WARNINGS)]
    assert unexpected == [], unexpected
    return message


def assert_valid_elr(text: str) -> Message:
    names = " ".join(segment[:3] for segment in text.split("\r")) + " "
    assert ELR_SEGMENTS.fullmatch(names.strip()), names
    message = validate_elr(text)
    assert message.name == "ORU_R01"
    assert message.msh.msh_9.to_er7() == "ORU^R01^ORU_R01"
    assert message.msh.msh_12.to_er7() == "2.5.1"
    assert message.msh.msh_21.to_er7() == "PHLabReport-NoAck^phLabResultsELRv251^2.16.840.1.113883.9.11^ISO"
    groups = [child.name for child in message.children]
    assert groups == ["MSH", "SFT", "ORU_R01_PATIENT_RESULT"], groups
    return message
