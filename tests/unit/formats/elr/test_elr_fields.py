"""Field by field: what each CSV column becomes in the ELR message (HL7 v2.5.1 ELR guide)."""

from __future__ import annotations

import random

import pytest

from relay.formats.elr import ElrSettings, NotTranslatable
from relay.samples import simple_report_row, upload_row
from tests.helpers.hl7_judge import assert_valid_elr
from tests.unit.formats.elr.support import parsed, raw, translate


def pdi(**changes: str) -> dict[str, str]:
    row = simple_report_row(random.Random(7), 3)
    row.update({
        "Patient_last_name": "Peña", "Patient_first_name": "José", "Patient_middle_name": "Q",
        "Patient_suffix": "Jr", "Patient_DOB": "19800229", "Patient_gender": "F", "Patient_race": "2106-3",
        "Patient_street": "12 Main St", "Patient_street_2": "Apt 4", "Patient_city": "Tucson",
        "Patient_state": "AZ", "Patient_zip_code": "85701", "Patient_county": "Pima", "Patient_country": "USA",
        "Patient_ID": "P-1", "Result_ID": "5b7cbd1e-6f3b-4d47-9f5e-7fbf36b0fd85", "Ordered_test_code": "94558-4",
        "Test_result_code": "260373001", "Specimen_type_code": "445297001",
        "Specimen_collection_date_time": "202602201809-0500", "Test_date": "202602201830-0500",
        "Date_result_released": "202602201900-0500", "Test_result_status": "F",
        "Testing_lab_name": "Sample Clinic Lab", "Testing_lab_CLIA": "53D1255188", "Testing_lab_street": "1 Lab Way",
        "Testing_lab_city": "Tucson", "Testing_lab_state": "AZ", "Testing_lab_zip_code": "85701",
        "Ordering_provider_ID": "1234567893", "Ordering_provider_last_name": "Grey",
        "Ordering_provider_first_name": "Meredith", "Employed_in_healthcare": "Y", "Symptomatic_for_disease": "N",
        "Illness_onset_date": "20260218",
    })
    row.update(changes)
    return row


def test_pid_name_birth_sex_race_address():
    m = parsed(translate(pdi()))
    assert raw(m, "PID", 5) == "Peña^José^Q^Jr^^^L"
    assert raw(m, "PID", 7) == "19800229"
    assert raw(m, "PID", 8) == "F"
    assert raw(m, "PID", 10) == "2106-3^White^HL70005"
    assert raw(m, "PID", 11) == "12 Main St^Apt 4^Tucson^AZ^85701^USA^^Pima"
    assert raw(m, "PID", 3) == "P-1^^^&53D1255188&CLIA^PT"
    assert m["PID.F22.R1.C3"] == "HL70189"


@pytest.mark.parametrize(("given", "sex"), [("M", "M"), ("female", "F"), ("", "U"), ("Other", "O"), ("n", "N")])
def test_pid8_sex_words_and_codes(given, sex):
    assert parsed(translate(pdi(Patient_gender=given)))["PID.F8"] == sex


@pytest.mark.parametrize(("given", "race"), [
    ("Black or African American", "2054-5^Black or African American^HL70005"),
    ("unknown", "UNK^Unknown^NULLFL"), ("refused", "ASKU^Asked, but unknown^NULLFL"), ("", ""),
])
def test_pid10_race(given, race):
    assert raw(parsed(translate(pdi(Patient_race=given))), "PID", 10) == race


def test_pid_phone_and_email_as_xtn_repetitions():
    m = parsed(translate(pdi(Patient_phone_number="(800) 232-4636", Patient_email="a@b.org")))
    assert raw(m, "PID", 13) == "^PRN^PH^^^800^2324636~^NET^Internet^a@b.org"


def test_orc_and_obr_carry_the_tracking_id_as_filler_order_number():
    m = parsed(translate(pdi()))
    filler = "5b7cbd1e-6f3b-4d47-9f5e-7fbf36b0fd85^relay^2.16.840.1.113883.3.9999^ISO"
    assert raw(m, "ORC", 1) == "RE"
    assert raw(m, "ORC", 3) == filler
    assert raw(m, "OBR", 3) == filler
    assert m["MSH.F10"] == "5b7cbd1e-6f3b-4d47-9f5e-7fbf36b0fd85"


def test_without_a_tracking_id_the_ids_come_from_the_content_hash():
    row = pdi(Result_ID="")
    text = translate(row, tracking=None)
    m = parsed(text)
    assert m["MSH.F10"].startswith("relay-") and len(m["MSH.F10"]) == 38
    assert m["OBR.F3.R1.C1"] == m["MSH.F10"] == m["ORC.F3.R1.C1"]
    assert translate(row, tracking=None) == text  # same row, same time -> same bytes


def test_ordering_provider_with_npi_and_its_assigning_authority():
    m = parsed(translate(pdi()))
    xcn = "1234567893^Grey^Meredith^^^^^^NPI&2.16.840.1.113883.4.6&ISO^L^^^NPI"
    assert raw(m, "ORC", 12) == xcn
    assert raw(m, "OBR", 16) == xcn


def test_obr4_ordered_test_and_obr7_collection_time_with_zone():
    m = parsed(translate(pdi()))
    assert m["OBR.F4.R1.C1"] == "94558-4"
    assert m["OBR.F4.R1.C3"] == "LN"
    assert "Ag [Presence]" in m["OBR.F4.R1.C2"]
    assert raw(m, "OBR", 7) == "20260220180900-0500"
    assert raw(m, "OBR", 22) == "20260220190000-0500"
    assert raw(m, "OBR", 25) == "F"


def test_dates_without_an_offset_take_the_configured_zone():
    m = parsed(translate(pdi(Specimen_collection_date_time="202607041200")))  # Chicago is on CDT in July
    assert raw(m, "OBR", 7) == "20260704120000-0500"
    m = parsed(translate(pdi(Specimen_collection_date_time="202601041200")))
    assert raw(m, "OBR", 7) == "20260104120000-0600"


def test_msh7_is_the_time_of_ingest_in_the_zone():
    assert raw(parsed(translate(pdi())), "MSH", 7) == "20270115020000-0600"


def test_obx_result_fields():
    m = parsed(translate(pdi()))
    obx = m.segments("OBX")[0]
    assert str(obx[2]) == "CE"
    assert str(obx[3]).startswith("94558-4^") and str(obx[3]).endswith("^LN")
    assert str(obx[5]) == "260373001^Detected^SNM"
    assert str(obx[8]) == "A"
    assert str(obx[11]) == "F"
    assert str(obx[14]) == "20260220180900-0500"
    assert str(obx[19]) == "20260220183000-0500"
    assert str(obx[23]) == "Sample Clinic Lab^L^^^^CLIA&2.16.840.1.113883.4.7&ISO^XX^^^53D1255188"
    assert str(obx[24]) == "1 Lab Way^^Tucson^AZ^85701^USA"


def test_corrected_result_status():
    m = parsed(translate(pdi(Test_result_status="C")))
    assert raw(m, "OBX", 11) == "C"
    assert raw(m, "OBR", 25) == "C"


def test_ask_at_order_entry_answers_follow_the_result():
    m = parsed(translate(pdi()))
    obx = m.segments("OBX")
    assert [str(s[1]) for s in obx] == ["1", "2", "3", "4"]
    assert str(obx[1][3]) == "95418-0^Employed in a healthcare setting^LN"
    assert str(obx[1][5]) == "Y^Yes^HL70136"
    assert str(obx[2][3]).startswith("95419-8^")
    assert str(obx[2][5]) == "N^No^HL70136"
    assert str(obx[3][2]) == "DT"
    assert str(obx[3][3]).startswith("65222-2^")
    assert str(obx[3][5]) == "20260218"
    assert all(str(s[11]) == "F" for s in obx[1:])


def test_spm_id_type_and_collection_range():
    m = parsed(translate(pdi()))
    ident = "5b7cbd1e-6f3b-4d47-9f5e-7fbf36b0fd85&relay&2.16.840.1.113883.3.9999&ISO"
    assert raw(m, "SPM", 2) == f"{ident}^{ident}"
    assert raw(m, "SPM", 4) == "445297001^Swab of internal nose^SNM"
    assert raw(m, "SPM", 17) == "20260220180900-0500^20260220180900-0500"


def test_upload_layout_words_become_codes():
    row = upload_row(random.Random(3), 1)
    row.update({"test_result": "Not Detected", "specimen_type": "Nasopharyngeal Swab", "patient_gender": "female",
                "patient_dob": "2/29/1980", "specimen_collection_date": "3/1/2026 14:05",
                "patient_ethnicity": "Hispanic or Latino", "pregnant": "N", "employed_in_healthcare": "",
                "symptomatic_for_disease": "", "test_performed_code": "94534-5"})
    text = translate(row)
    assert_valid_elr(text)
    m = parsed(text)
    assert raw(m, "OBX", 5) == "260415000^Not detected^SNM"
    assert raw(m, "OBX", 8) == "N"
    assert raw(m, "SPM", 4) == "258500001^Nasopharyngeal swab^SNM"
    assert raw(m, "PID", 8) == "F"
    assert raw(m, "PID", 7) == "19800229"
    assert raw(m, "PID", 22) == "H^Hispanic or Latino^HL70189"
    assert raw(m, "OBR", 7) == "20260301140500-0600"
    assert m["OBR.F4.R1.C1"] == "94534-5"  # no ordered code in this layout: the performed one
    assert str(m.segments("OBX")[1][5]) == "60001007^Not pregnant^SNM"
    assert m["MSH.F10"] == row["accession_number"]


def test_sending_facility_defaults_to_the_lab_and_can_be_set():
    assert raw(parsed(translate(pdi())), "MSH", 4) == "Sample Clinic Lab^53D1255188^CLIA"
    settings = ElrSettings(sending_facility="Site^05D1234567^CLIA", processing_id="T")
    m = parsed(translate(pdi(), settings))
    assert raw(m, "MSH", 4) == "Site^05D1234567^CLIA"
    assert raw(m, "MSH", 11) == "T"
    assert raw(m, "MSH", 5) == "APHL^2.16.840.1.113883.3.8589^ISO"


def test_separators_in_values_are_escaped():
    text = translate(pdi(Patient_last_name="O|Brien^&~\\", Patient_street="1 A St\r\nBldg 2"))
    assert_valid_elr(text)
    m = parsed(text)
    assert raw(m, "PID", 5).startswith("O\\F\\Brien\\S\\\\T\\\\R\\\\E\\^")
    assert m["PID.F5.R1.C1"] == "O|Brien^&~\\"
    assert m["PID.F11.R1.C1"] == "1 A St\r\nBldg 2"
    assert text.count("\r") == len(m) - 1 and "\n" not in text  # CR only between segments


@pytest.mark.parametrize(("changes", "words"), [
    ({"Test_result_code": ""}, "Test_result_code is empty"),
    ({"Test_result_code": "maybe"}, "neither a SNOMED CT code nor a known test result"),
    ({"Ordered_test_code": "COVID"}, "is not a LOINC code"),
    ({"Specimen_type_code": "Q-tip"}, "known specimen type"),
    ({"Patient_DOB": "20230229"}, "'20230229' is not a possible date"),
    ({"Specimen_collection_date_time": "202602301200"}, "not a possible date"),
    ({"Specimen_collection_date_time": "yesterday"}, "is not a date relay can read"),
    ({"Patient_DOB": "20300101"}, "after the specimen was collected"),
    ({"Patient_last_name": ""}, "patient's last name"),
    ({"Patient_last_name": "x" * 51}, "Patient_last_name is 51 characters long; HL7 allows at most 50"),
    ({"Testing_lab_CLIA": "123"}, "is not a CLIA number"),
    ({"Ordering_provider_ID": "12345"}, "is not a ten-digit NPI"),
    ({"Patient_phone_number": "555-1234"}, "is not a ten-digit phone number"),
    ({"Patient_gender": "X"}, "is not one of M, F, O, A, U, N"),
    ({"Patient_race": "Martian"}, "is not a CDC race code"),
    ({"Employed_in_healthcare": "perhaps"}, "is not Y, N or UNK"),
    ({"Test_result_status": "Z"}, "is not a result status"),
    ({"Specimen_collection_date_time": "", "Order_test_date": ""}, "date the specimen was collected"),
])
def test_rows_that_cannot_become_a_valid_message_are_refused_with_a_reason(changes, words):
    with pytest.raises(NotTranslatable) as caught:
        translate(pdi(**changes))
    assert words in caught.value.reason


@pytest.mark.parametrize("bad", [{"processing_id": "X"}, {"sending_application": "a|b"},
                                 {"receiving_facility": "a^b^c^d"}, {"timezone": "Mars/Olympus"}])
def test_settings_are_checked(bad):
    with pytest.raises((ValueError, KeyError)):
        ElrSettings(**bad)
