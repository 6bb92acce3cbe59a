"""The two real CSV layouts (column names from formats.md) with generated, made-up values."""

from __future__ import annotations

import csv
import io
import random
import uuid

SIMPLE_REPORT_COLUMNS = (
    "Patient_last_name Patient_first_name Patient_middle_name Patient_suffix "
    "Patient_tribal_affiliation Patient_ID Patient_race Patient_DOB Patient_gender "
    "Patient_ethnicity Patient_preferred_language Patient_street Patient_street_2 "
    "Patient_city Patient_state Patient_zip_code Patient_country Patient_phone_number "
    "Patient_county Patient_email Patient_role Ordered_test_code Specimen_source_site_code "
    "Specimen_type_code Test_Kit_Name_ID Equipment_Model_ID Device_ID Instrument_ID "
    "Result_ID Corrected_result_ID Test_correction_reason Test_result_status "
    "Order_result_status Observation_result_status Test_result_code Illness_onset_date "
    "Specimen_collection_date_time Order_test_date Test_date Date_result_released "
    "Processing_mode_code Employed_in_healthcare Resident_congregate_setting First_test "
    "Symptomatic_for_disease Site_of_care Testing_lab_name Testing_lab_CLIA "
    "Testing_lab_street Testing_lab_street_2 Testing_lab_city Testing_lab_state "
    "Testing_lab_zip_code Testing_lab_phone_number Testing_lab_county Organization_name "
    "Ordering_facility_name Ordering_facility_street Ordering_facility_street_2 "
    "Ordering_facility_city Ordering_facility_state Ordering_facility_zip_code "
    "Ordering_facility_phone_number Ordering_facility_county Ordering_facility_email "
    "Ordering_provider_ID Ordering_provider_last_name Ordering_provider_first_name "
    "Ordering_provider_street Ordering_provider_street_2 Ordering_provider_city "
    "Ordering_provider_state Ordering_provider_zip_code Ordering_provider_phone_number "
    "Ordering_provider_county"
).split()

LOWERCASE_COLUMNS = (
    "patient_id patient_last_name patient_first_name patient_middle_name patient_street "
    "patient_street2 patient_city patient_state patient_zip_code patient_county "
    "patient_phone_number patient_dob patient_gender patient_race patient_ethnicity "
    "patient_preferred_language patient_email accession_number equipment_model_name "
    "test_performed_code test_result order_test_date specimen_collection_date "
    "testing_lab_specimen_received_date test_result_date date_result_released specimen_type "
    "ordering_provider_id ordering_provider_last_name ordering_provider_first_name "
    "ordering_provider_middle_name ordering_provider_street ordering_provider_street2 "
    "ordering_provider_city ordering_provider_state ordering_provider_zip_code "
    "ordering_provider_phone_number testing_lab_clia testing_lab_name testing_lab_street "
    "testing_lab_street2 testing_lab_city testing_lab_state testing_lab_zip_code "
    "testing_lab_phone_number pregnant employed_in_healthcare symptomatic_for_disease "
    "illness_onset_date resident_congregate_setting residence_type hospitalized icu "
    "ordering_facility_name ordering_facility_street ordering_facility_street2 "
    "ordering_facility_city ordering_facility_state ordering_facility_zip_code "
    "ordering_facility_phone_number comment test_result_status reporting_facility_name "
    "reporting_facility_clia"
).split()

_LAST = ["Peña", "José", "Smith", "O'Brien", "Nguyen", "García", "Müller", "Okafor"]
_FIRST = ["Ana", "José", "Mary-Kate", "Li", "Renée", "Tom"]


def _simple_report_value(name: str, rng: random.Random) -> str:
    if name == "Result_ID":
        return str(uuid.UUID(int=rng.getrandbits(128), version=4))
    if name == "Patient_last_name":
        return rng.choice(_LAST)
    if name == "Patient_first_name":
        return rng.choice(_FIRST)
    if name == "Patient_DOB" or name.endswith("_date") or name == "Order_test_date":
        return f"19{rng.randint(40, 99)}{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}"
    if name.endswith("date_time") or name in ("Test_date", "Date_result_released"):
        return f"202202{rng.randint(10, 28)}18{rng.randint(0, 59):02d}-0500"
    if name == "Ordered_test_code":
        return rng.choice(["94558-4", "94534-5", "95406-5"])
    if name == "Test_result_code":
        return rng.choice(["260373001", "260415000", "419984006"])
    if name == "Patient_race":
        return rng.choice(["2106-3", "2054-5", "UNK"])
    if name == "Patient_gender":
        return rng.choice("MFOAUN")
    if name == "Patient_ethnicity":
        return rng.choice("HNU")
    if name == "Test_result_status":
        return rng.choice("FC")
    if name == "Testing_lab_CLIA":
        return "53D1255188"
    if name == "Ordering_provider_ID":
        return str(rng.randint(10**9, 10**10 - 1))
    if name.endswith("phone_number"):
        return rng.choice(["(800) 232-4636", "2059992800"])
    if name == "Equipment_Model_ID":
        return "BinaxNOW COVID-19 Ag Card"
    if name.endswith("_street"):
        return f"{rng.randint(1, 999)} Main St, Apt {rng.randint(1, 9)}"
    if name in ("Employed_in_healthcare", "First_test", "Symptomatic_for_disease"):
        return rng.choice(["Y", "N", "UNK"])
    return rng.choice(["", "x", "Springfield", "NY", "12345"])


def _lowercase_value(name: str, rng: random.Random) -> str:
    if name == "accession_number":
        return f"ACC-{rng.randint(0, 10**8):08d}"
    if name == "patient_last_name":
        return rng.choice(_LAST)
    if name == "patient_first_name":
        return rng.choice(_FIRST)
    if name.endswith("_date") or name == "patient_dob":
        return f"{rng.randint(1, 12)}/{rng.randint(1, 28)}/20{rng.randint(10, 23)} 14:05"
    if name.endswith("phone_number"):
        return "205-999-2800"
    if name == "test_result":
        return rng.choice(["Detected", "Not Detected", "Positive", "260415000"])
    if name == "specimen_type":
        return rng.choice(["Nasal Swab", "445297001"])
    if name == "comment":
        return rng.choice(["", "retest, see note", "line one\nline two, with comma", 'said "ok"'])
    return rng.choice(["", "N", "Y", "Ordering Facility, Inc."])


def simple_report_rows(
    count: int, seed: int = 1, columns: list[str] | None = None
) -> list[dict[str, str]]:
    rng = random.Random(seed)
    cols = columns or SIMPLE_REPORT_COLUMNS
    return [{c: _simple_report_value(c, rng) for c in cols} for _ in range(count)]


def lowercase_rows(count: int, seed: int = 1) -> list[dict[str, str]]:
    rng = random.Random(seed)
    return [{c: _lowercase_value(c, rng) for c in LOWERCASE_COLUMNS} for _ in range(count)]


def to_csv(
    columns: list[str] | tuple[str, ...],
    rows: list[dict[str, str]],
    *,
    delimiter: str = ",",
    newline: str = "\r\n",
    encoding: str = "utf-8",
) -> bytes:
    out = io.StringIO(newline="")
    writer = csv.writer(out, delimiter=delimiter, lineterminator=newline)
    writer.writerow(columns)
    for row in rows:
        writer.writerow([row[c] for c in columns])
    return out.getvalue().encode(encoding)
