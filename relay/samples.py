"""Generated sample results in the layouts real sites export (never real patient data).

Used by `relay demo`, the benchmarks and the tests.
"""

from __future__ import annotations

import csv
import io
import random
import uuid
from collections.abc import Iterator
from pathlib import Path

SIMPLE_REPORT_COLUMNS = (
    "Patient_last_name", "Patient_first_name", "Patient_middle_name", "Patient_suffix", "Patient_tribal_affiliation",
    "Patient_ID", "Patient_race", "Patient_DOB", "Patient_gender", "Patient_ethnicity", "Patient_preferred_language",
    "Patient_street", "Patient_street_2", "Patient_city", "Patient_state", "Patient_zip_code", "Patient_country",
    "Patient_phone_number", "Patient_county", "Patient_email", "Patient_role", "Ordered_test_code",
    "Specimen_source_site_code", "Specimen_type_code", "Test_Kit_Name_ID", "Equipment_Model_ID", "Device_ID",
    "Instrument_ID", "Result_ID", "Corrected_result_ID", "Test_correction_reason", "Test_result_status",
    "Order_result_status", "Observation_result_status", "Test_result_code", "Illness_onset_date",
    "Specimen_collection_date_time", "Order_test_date", "Test_date", "Date_result_released", "Processing_mode_code",
    "Employed_in_healthcare", "Resident_congregate_setting", "First_test", "Symptomatic_for_disease", "Site_of_care",
    "Testing_lab_name", "Testing_lab_CLIA", "Testing_lab_street", "Testing_lab_street_2", "Testing_lab_city",
    "Testing_lab_state", "Testing_lab_zip_code", "Testing_lab_phone_number", "Testing_lab_county",
    "Organization_name", "Ordering_facility_name", "Ordering_facility_street", "Ordering_facility_street_2",
    "Ordering_facility_city", "Ordering_facility_state", "Ordering_facility_zip_code",
    "Ordering_facility_phone_number", "Ordering_facility_county", "Ordering_facility_email", "Ordering_provider_ID",
    "Ordering_provider_last_name", "Ordering_provider_first_name", "Ordering_provider_street",
    "Ordering_provider_street_2", "Ordering_provider_city", "Ordering_provider_state", "Ordering_provider_zip_code",
    "Ordering_provider_phone_number", "Ordering_provider_county",
)

LAST = ("Peña", "García", "Smith", "Nguyen", "Okafor", "Müller", "Johnson", "O'Brien", "Kowalski", "Begay")
FIRST = ("José", "Ana", "Maria", "John", "Wei", "Fatima", "Liam", "Zoë", "Amara", "Noah")
CITIES = (("Birmingham", "AL", "35203", "Jefferson"), ("Tucson", "AZ", "85701", "Pima"),
          ("Albany", "NY", "12207", "Albany"), ("Austin", "TX", "78701", "Travis"))
RESULTS = ("260415000", "260373001", "419984006")
DEVICES = ("BinaxNOW COVID-19 Ag Card", "ID NOW", "Sofia SARS Antigen FIA")


def simple_report_row(rng: random.Random, n: int) -> dict[str, str]:
    city, state, zip_code, county = rng.choice(CITIES)
    day = f"2026{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}"
    when = f"{day}{rng.randint(7, 18):02d}{rng.randint(0, 59):02d}-0500"
    row = dict.fromkeys(SIMPLE_REPORT_COLUMNS, "")
    row.update({
        "Patient_last_name": rng.choice(LAST), "Patient_first_name": rng.choice(FIRST),
        "Patient_ID": str(uuid.UUID(int=rng.getrandbits(128))), "Patient_race": rng.choice(("2106-3", "2054-5", "UNK")),
        "Patient_DOB": f"{rng.randint(1940, 2015)}{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}",
        "Patient_gender": rng.choice("MFOU"), "Patient_ethnicity": rng.choice("HNU"),
        "Patient_street": f"{rng.randint(1, 9999)} Main St, Apt {n % 50}", "Patient_city": city,
        "Patient_state": state, "Patient_zip_code": zip_code, "Patient_country": "USA",
        "Patient_phone_number": f"(205) {rng.randint(200, 999)}-{rng.randint(1000, 9999)}", "Patient_county": county,
        "Ordered_test_code": "94558-4", "Specimen_type_code": "445297001", "Equipment_Model_ID": rng.choice(DEVICES),
        "Result_ID": str(uuid.UUID(int=rng.getrandbits(128))), "Test_result_status": "F",
        "Test_result_code": rng.choice(RESULTS), "Specimen_collection_date_time": when, "Order_test_date": when,
        "Test_date": when, "Date_result_released": when, "Employed_in_healthcare": rng.choice(("Y", "N", "UNK")),
        "Testing_lab_name": "Sample Clinic Lab", "Testing_lab_CLIA": "53D1255188", "Testing_lab_city": city,
        "Testing_lab_state": state, "Testing_lab_zip_code": zip_code, "Testing_lab_phone_number": "8002324636",
        "Ordering_facility_name": "Sample Clinic", "Ordering_facility_state": state,
        "Ordering_provider_ID": f"{rng.randint(10**9, 10**10 - 1)}", "Ordering_provider_last_name": "Grey",
        "Ordering_provider_first_name": "Meredith",
    })
    return row


def simple_report_rows(count: int, seed: int = 1, start: int = 0) -> Iterator[dict[str, str]]:
    rng = random.Random(seed)
    for n in range(start):
        simple_report_row(rng, n)
    for n in range(start, start + count):
        yield simple_report_row(rng, n)


def write_simple_report(path: Path, count: int, *, seed: int = 1, start: int = 0, encoding: str = "utf-8",
                        columns: tuple[str, ...] = SIMPLE_REPORT_COLUMNS) -> Path:
    """A SimpleReport-layout CSV of ``count`` generated rows (same seed+start -> same rows)."""
    with path.open("w", encoding=encoding, newline="", errors="replace") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(columns), extrasaction="ignore", lineterminator="\r\n")
        writer.writeheader()
        for row in simple_report_rows(count, seed, start):
            writer.writerow(row)
    return path


def simple_report_csv_bytes(count: int, *, seed: int = 1, start: int = 0) -> bytes:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(SIMPLE_REPORT_COLUMNS), lineterminator="\r\n")
    writer.writeheader()
    for row in simple_report_rows(count, seed, start):
        writer.writerow(row)
    return buf.getvalue().encode("utf-8")


UPLOAD_COLUMNS = (
    "patient_id", "patient_last_name", "patient_first_name", "patient_middle_name", "patient_street",
    "patient_street2", "patient_city", "patient_state", "patient_zip_code", "patient_county", "patient_phone_number",
    "patient_dob", "patient_gender", "patient_race", "patient_ethnicity", "patient_preferred_language",
    "patient_email", "accession_number", "equipment_model_name", "test_performed_code", "test_result",
    "order_test_date", "specimen_collection_date", "testing_lab_specimen_received_date", "test_result_date",
    "date_result_released", "specimen_type", "ordering_provider_id", "ordering_provider_last_name",
    "ordering_provider_first_name", "ordering_provider_middle_name", "ordering_provider_street",
    "ordering_provider_street2", "ordering_provider_city", "ordering_provider_state", "ordering_provider_zip_code",
    "ordering_provider_phone_number", "testing_lab_clia", "testing_lab_name", "testing_lab_street",
    "testing_lab_street2", "testing_lab_city", "testing_lab_state", "testing_lab_zip_code",
    "testing_lab_phone_number", "pregnant", "employed_in_healthcare", "symptomatic_for_disease", "illness_onset_date",
    "resident_congregate_setting", "residence_type", "hospitalized", "icu", "ordering_facility_name",
    "ordering_facility_street", "ordering_facility_street2", "ordering_facility_city", "ordering_facility_state",
    "ordering_facility_zip_code", "ordering_facility_phone_number", "comment", "test_result_status",
    "reporting_facility_name", "reporting_facility_clia",
)
UPLOAD_RESULTS = ("Detected", "Not Detected", "Positive", "Negative", "260415000")
UPLOAD_SPECIMENS = ("Nasal Swab", "Nasopharyngeal Swab", "Anterior Nares Swab", "445297001")


def upload_row(rng: random.Random, n: int) -> dict[str, str]:
    """One row of the standard CSV-upload layout (lowercase names, US dates, words for codes)."""
    city, state, zip_code, county = rng.choice(CITIES)
    month, day = rng.randint(1, 12), rng.randint(1, 28)
    when = f"{month}/{day}/2026 {rng.randint(7, 18):02d}:{rng.randint(0, 59):02d}"
    row = dict.fromkeys(UPLOAD_COLUMNS, "")
    row.update({
        "patient_id": f"MRN{rng.randint(10**5, 10**6 - 1)}", "patient_last_name": rng.choice(LAST),
        "patient_first_name": rng.choice(FIRST), "patient_street": f"{rng.randint(1, 9999)} Elm St",
        "patient_city": city, "patient_state": state, "patient_zip_code": zip_code, "patient_county": county,
        "patient_phone_number": f"205-{rng.randint(200, 999)}-{rng.randint(1000, 9999)}",
        "patient_dob": f"{rng.randint(1, 12)}/{rng.randint(1, 28)}/{rng.randint(1940, 2015)}",
        "patient_gender": rng.choice(("M", "F", "Female", "male", "U")),
        "patient_race": rng.choice(("White", "Black or African American", "Asian", "2106-3", "unknown")),
        "patient_ethnicity": rng.choice(("Hispanic or Latino", "Not Hispanic or Latino", "U")),
        "accession_number": f"ACC-{n:07d}-{rng.randint(0, 9999):04d}", "equipment_model_name": rng.choice(DEVICES),
        "test_performed_code": rng.choice(("94558-4", "94534-5", "95406-5")), "test_result": rng.choice(UPLOAD_RESULTS),
        "order_test_date": when, "specimen_collection_date": when, "test_result_date": when,
        "date_result_released": when, "specimen_type": rng.choice(UPLOAD_SPECIMENS),
        "ordering_provider_id": f"{rng.randint(10**9, 10**10 - 1)}", "ordering_provider_last_name": "Bailey",
        "ordering_provider_first_name": "Miranda", "ordering_provider_street": "1 Clinic Way",
        "ordering_provider_city": city, "ordering_provider_state": state, "ordering_provider_zip_code": zip_code,
        "ordering_provider_phone_number": "205-999-2800", "testing_lab_clia": "05D2191150",
        "testing_lab_name": "Upload Test Lab", "testing_lab_street": "2 Lab Rd", "testing_lab_city": city,
        "testing_lab_state": state, "testing_lab_zip_code": zip_code, "testing_lab_phone_number": "205-888-2000",
        "employed_in_healthcare": rng.choice(("Y", "N", "")), "symptomatic_for_disease": rng.choice(("Y", "N", "UNK")),
        "pregnant": rng.choice(("N", "Y", "")), "ordering_facility_name": "Upload Clinic",
        "comment": rng.choice(("", "repeat test, patient asked\nsecond line", "ok")), "test_result_status": "F",
    })
    return row


def upload_rows(count: int, seed: int = 1) -> Iterator[dict[str, str]]:
    rng = random.Random(seed)
    for n in range(count):
        yield upload_row(rng, n)


def write_upload(path: Path, count: int, *, seed: int = 1) -> Path:
    """A standard-upload-layout CSV of ``count`` generated rows."""
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(UPLOAD_COLUMNS), lineterminator="\r\n")
        writer.writeheader()
        for row in upload_rows(count, seed):
            writer.writerow(row)
    return path
