"""Every message made from the bundled samples and from generated rows of both layouts passes
hl7apy's strict validation of the v2.5.1 ORU_R01 structure; python-hl7 reads the row's values back."""

from __future__ import annotations

import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from relay.formats.elr import NotTranslatable
from relay.samples import simple_report_row, simple_report_rows, upload_row, upload_rows
from tests.helpers.hl7_judge import assert_valid_elr
from tests.unit.formats.elr.support import parsed, translate

# Any text a cell can hold once read from a CSV file (no lone surrogates: decoding never makes them).
ODD = st.text(st.characters(blacklist_categories=("Cs",)), max_size=40)
SEPARATORS = st.text(st.sampled_from("|^~\\&\r\n\t\x00 éß€😀\u2028\x85'\",;"), max_size=12)
TEXT = st.one_of(ODD, SEPARATORS, st.just(""))

FREE_PDI = ("Patient_last_name", "Patient_first_name", "Patient_middle_name", "Patient_suffix", "Patient_street",
            "Patient_street_2", "Patient_city", "Patient_county", "Patient_ID", "Patient_email",
            "Patient_tribal_affiliation", "Equipment_Model_ID", "Testing_lab_name", "Ordering_facility_name",
            "Ordering_provider_last_name", "Testing_lab_street", "Result_ID")
FREE_UPLOAD = ("patient_last_name", "patient_first_name", "patient_street", "patient_city", "patient_id",
               "accession_number", "equipment_model_name", "testing_lab_name", "ordering_provider_first_name",
               "comment", "ordering_facility_name")
CODED = {
    "Patient_gender": ["M", "F", "U", "", "x"], "patient_gender": ["male", "Female", ""],
    "Test_result_code": ["260373001", "260415000", "419984006", "", "positive"],
    "test_result": ["Detected", "Not Detected", "Negative", "455371000124106", ""],
    "Patient_DOB": ["19800229", "19810229", "20000101", "", "1/2/1990"],
    "patient_dob": ["2/29/1980", "12/31/1999", "", "2026-01-01"],
    "Specimen_collection_date_time": ["202602201809-0500", "20260220", "202602201809", "2/20/2026 18:09", ""],
    "Patient_phone_number": ["(205) 555-1212", "2055551212", "+1 205 555 1212", "", "555"],
    "Employed_in_healthcare": ["Y", "N", "UNK", "", "yes"], "pregnant": ["Y", "N", "U", "77386006", ""],
}


def _rows(layout: str, draw: st.DrawFn) -> dict[str, str]:
    rng = random.Random(draw(st.integers(0, 2**32)))
    row = simple_report_row(rng, 1) if layout == "pdi" else upload_row(rng, 1)
    for column in FREE_PDI if layout == "pdi" else FREE_UPLOAD:
        if draw(st.booleans()):
            row[column] = draw(TEXT)
    for column, choices in CODED.items():
        if column in row and draw(st.booleans()):
            row[column] = draw(st.sampled_from(choices))
    return row


@st.composite
def rows(draw: st.DrawFn) -> dict[str, str]:
    return _rows(draw(st.sampled_from(["pdi", "upload"])), draw)


def test_bundled_samples_of_both_layouts_validate():
    made = [translate(r) for r in simple_report_rows(60, seed=11)] + [translate(r) for r in upload_rows(60, seed=12)]
    for text in made:
        assert_valid_elr(text)


@pytest.mark.slow  # hl7apy's strict validation: ~64 messages/s
@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows())
def test_generated_rows_become_valid_messages_or_are_refused_with_a_reason(row):
    try:
        text = translate(row)
    except NotTranslatable as exc:
        assert exc.reason and any(column in exc.reason for column in row)
        return
    assert_valid_elr(text)
    m = parsed(text)
    last = (row.get("Patient_last_name") or row.get("patient_last_name") or "").strip()
    first = (row.get("Patient_first_name") or row.get("patient_first_name") or "").strip()
    street = (row.get("Patient_street") or row.get("patient_street") or "").strip()
    assert m["PID.F5.R1.C1"] == last
    assert m["PID.F5.R1.C2"] == first
    assert m["PID.F11.R1.C1"] == street
