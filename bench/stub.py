"""Benchmark of the receiving stub: one client posting SimpleReport-layout CSV batches over loopback.

    .venv/bin/python bench/stub.py [--batches 100] [--rows 500] [--latency MS]

Starts ``python -m server_stub --port 0`` on a temporary database, generates fake rows (never real
data), posts the batches one after the other with a fresh Idempotency-Key each, and prints items/s,
requests/s and per-request latency. Prints figures only; asserts nothing about time.
"""

from __future__ import annotations

import argparse
import csv
import io
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx

COLUMNS = (
    "Patient_last_name Patient_first_name Patient_middle_name Patient_suffix Patient_tribal_affiliation "
    "Patient_ID Patient_race Patient_DOB Patient_gender Patient_ethnicity Patient_preferred_language "
    "Patient_street Patient_street_2 Patient_city Patient_state Patient_zip_code Patient_country "
    "Patient_phone_number Patient_county Patient_email Patient_role Ordered_test_code "
    "Specimen_source_site_code Specimen_type_code Test_Kit_Name_ID Equipment_Model_ID Device_ID "
    "Instrument_ID Result_ID Corrected_result_ID Test_correction_reason Test_result_status "
    "Order_result_status Observation_result_status Test_result_code Illness_onset_date "
    "Specimen_collection_date_time Order_test_date Test_date Date_result_released Processing_mode_code "
    "Employed_in_healthcare Resident_congregate_setting First_test Symptomatic_for_disease Site_of_care "
    "Testing_lab_name Testing_lab_CLIA Testing_lab_street Testing_lab_street_2 Testing_lab_city "
    "Testing_lab_state Testing_lab_zip_code Testing_lab_phone_number Testing_lab_county Organization_name "
    "Ordering_facility_name Ordering_facility_street Ordering_facility_street_2 Ordering_facility_city "
    "Ordering_facility_state Ordering_facility_zip_code Ordering_facility_phone_number "
    "Ordering_facility_county Ordering_facility_email Ordering_provider_ID Ordering_provider_last_name "
    "Ordering_provider_first_name Ordering_provider_street Ordering_provider_street_2 Ordering_provider_city "
    "Ordering_provider_state Ordering_provider_zip_code Ordering_provider_phone_number Ordering_provider_county"
).split()

LAST = ("Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Lopez", "Nguyen")
FIRST = ("James", "Mary", "Robert", "Patricia", "John", "Jennifer", "Michael", "Linda", "Jose", "Ana")
CITIES = (("Birmingham", "AL", "35203"), ("Austin", "TX", "78701"), ("Denver", "CO", "80202"))


def fake_row(rng: random.Random) -> dict[str, str]:
    city, state, zip_code = rng.choice(CITIES)
    date = f"2022{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}"
    phone = "".join(str(rng.randint(0, 9)) for _ in range(10))
    row = {c: "" for c in COLUMNS}
    row.update({
        "Patient_last_name": rng.choice(LAST), "Patient_first_name": rng.choice(FIRST),
        "Patient_ID": str(uuid.UUID(int=rng.getrandbits(128))), "Patient_race": rng.choice(("2106-3", "2054-5", "UNK")),
        "Patient_DOB": f"19{rng.randint(40, 99)}0{rng.randint(1, 9)}1{rng.randint(0, 9)}",
        "Patient_gender": rng.choice("MFOU"), "Patient_ethnicity": rng.choice("HNU"),
        "Patient_street": f"{rng.randint(1, 9999)} Main St", "Patient_city": city, "Patient_state": state,
        "Patient_zip_code": zip_code, "Patient_country": "USA", "Patient_phone_number": phone,
        "Patient_county": "Jefferson", "Patient_role": "STAFF", "Ordered_test_code": "94558-4",
        "Specimen_type_code": "445297001", "Test_Kit_Name_ID": "BinaxNOW COVID-19 Ag Card",
        "Equipment_Model_ID": "BinaxNOW COVID-19 Ag Card", "Device_ID": "BinaxNOW COVID-19 Ag Card",
        "Result_ID": str(uuid.UUID(int=rng.getrandbits(128))), "Test_result_status": "F",
        "Order_result_status": "F", "Observation_result_status": "F",
        "Test_result_code": rng.choice(("260373001", "260415000", "419984006")),
        "Specimen_collection_date_time": date + "1809-0500", "Order_test_date": date, "Test_date": date,
        "Date_result_released": date + "1830-0500", "Processing_mode_code": "P",
        "Employed_in_healthcare": rng.choice(("Y", "N", "UNK")), "Resident_congregate_setting": "N",
        "First_test": "UNK", "Symptomatic_for_disease": "N", "Testing_lab_name": "Acme Testing Lab",
        "Testing_lab_CLIA": "53D1255188", "Testing_lab_street": "1 Lab Way", "Testing_lab_city": city,
        "Testing_lab_state": state, "Testing_lab_zip_code": zip_code, "Testing_lab_phone_number": "8002324636",
        "Organization_name": "Acme Health", "Ordering_facility_name": "Acme Clinic",
        "Ordering_facility_street": "2 Clinic Rd", "Ordering_facility_city": city, "Ordering_facility_state": state,
        "Ordering_facility_zip_code": zip_code, "Ordering_facility_phone_number": "(800) 232-4636",
        "Ordering_provider_ID": str(rng.randint(10**9, 10**10 - 1)), "Ordering_provider_last_name": rng.choice(LAST),
        "Ordering_provider_first_name": rng.choice(FIRST), "Ordering_provider_street": "3 Doctor Ave",
        "Ordering_provider_city": city, "Ordering_provider_state": state, "Ordering_provider_zip_code": zip_code,
        "Ordering_provider_phone_number": phone,
    })
    return row


def csv_batch(rng: random.Random, rows: int) -> bytes:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    for _ in range(rows):
        writer.writerow(fake_row(rng))
    return out.getvalue().encode("utf-8")


def start_stub(workdir: Path, extra: list[str]) -> tuple[subprocess.Popen[str], str]:
    cmd = [sys.executable, "-m", "server_stub", "--port", "0", "--db", str(workdir / "stub.db"),
           "--log", str(workdir / "access.log"), *extra]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, cwd=Path(__file__).resolve().parent.parent)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line.startswith("listening on "):
        proc.kill()
        raise SystemExit(f"the stub did not start: {line!r}")
    return proc, line.split()[-1]


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of a process so far (Linux /proc; None elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--batches", type=int, default=100)
    ap.add_argument("--rows", type=int, default=500)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--latency", type=float, default=0.0, help="--latency passed to the stub (ms)")
    args = ap.parse_args()

    rng = random.Random(args.seed)
    t0 = time.perf_counter()
    bodies = [csv_batch(rng, args.rows) for _ in range(args.batches)]
    print(f"generated {args.batches} batches x {args.rows} rows ({sum(map(len, bodies)) / 1e6:.1f} MB) "
          f"in {time.perf_counter() - t0:.1f} s")

    with tempfile.TemporaryDirectory(prefix="stub-bench-") as tmp:
        proc, url = start_stub(Path(tmp), ["--latency", str(args.latency)] if args.latency else [])
        try:
            latencies = []
            with httpx.Client(base_url=url, timeout=60) as client:
                client.post("/api/waters", content=bodies[0][: bodies[0].index(b"\n") + 1] + b"", headers={
                    "client": "bench", "Content-Type": "text/csv"})  # warm-up (400: header only)
                cpu_before = cpu_seconds(proc.pid)
                start = time.perf_counter()
                for body in bodies:
                    t = time.perf_counter()
                    r = client.post("/api/waters", content=body, headers={
                        "client": "simple_report.default", "Content-Type": "text/csv",
                        "Idempotency-Key": str(uuid.uuid4())})
                    latencies.append(time.perf_counter() - t)
                    if r.status_code != 201:
                        raise SystemExit(f"unexpected answer {r.status_code}: {r.text[:200]}")
                elapsed = time.perf_counter() - start
                cpu_after = cpu_seconds(proc.pid)
                stats = client.get("/api/stats").json()
        finally:
            proc.terminate()
            proc.wait(timeout=15)
    items = args.batches * args.rows
    latencies.sort()
    print(f"{items} items in {args.batches} requests: {elapsed:.2f} s")
    print(f"  {items / elapsed:,.0f} items/s, {args.batches / elapsed:,.1f} requests/s")
    print(f"  latency per request: median {statistics.median(latencies) * 1000:.1f} ms, "
          f"p95 {latencies[int(len(latencies) * 0.95) - 1] * 1000:.1f} ms")
    if cpu_before is not None and cpu_after is not None and cpu_after > cpu_before:
        used = cpu_after - cpu_before
        print(f"  stub CPU: {used:.2f} s, {items / used:,.0f} items per CPU-second "
              f"(what one core gives when nothing else runs)")
    print(f"  stub stats: accepted_items={stats['accepted_items']} unique_items={stats['unique_items']} "
          f"duplicates_received={stats['duplicates_received']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
