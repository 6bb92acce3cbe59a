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
