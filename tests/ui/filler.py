"""Realistic outbox contents for the desktop app's tests and screenshots, made the way relay makes
them: generated SimpleReport files (never real data) read by the real file ingest, batches
claimed and answered through the store's own transitions, a person's retry, a test export a
person discarded, duplicates, a rejected file, results given up after the expiry time.

    .venv/bin/python -m tests.ui.filler CONFIG_DIR [--rows 40]

writes CONFIG_DIR/relay.toml and fills CONFIG_DIR/outbox.db (for `relay gui --screenshot`).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sqlite3
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from relay.delivery.wire import BUILDERS
from relay.hashing import json_hash
from relay.ingest.files import ingest_file
from relay.samples import write_simple_report
from relay.store.models import NewItem
from relay.store.outbox import Outbox

DAY = 86_400.0
HOUR = 3_600.0
OWNER = "filler"
BUILD = BUILDERS["csv"]


@dataclass
class Filled:
    """What went where, so tests can assert against it."""

    files: int = 0
    pending: int = 0
    sent: int = 0
    failed: int = 0
    dead: int = 0
    discarded: int = 0
    duplicates: int = 0
    rejected_files: int = 0


def _receipt() -> str:
    return str(uuid.uuid4())


def _send_all(box: Outbox, now: float, limit: int = 500) -> int:
    n = 0
    while (batch := box.claim(now=now, lease_s=60, owner=OWNER, limit=limit, build=BUILD)) is not None:
        n += box.complete(batch.id, owner=OWNER, receipt=_receipt(), status=201, now=now + 2)
    return n


def fill(box: Outbox, inbox: Path, now: float, rows: int = 12) -> Filled:
    """Fill ``box`` as a lab's outbox looks after three weeks; ``inbox`` receives the CSV files."""
    inbox.mkdir(parents=True, exist_ok=True)
    reports = inbox / "reports"
    reports.mkdir(exist_ok=True)
    out = Filled()
    seed = 0

    def drop(name: str, count: int, at: float) -> Path:
        nonlocal seed
        seed += 1
        path = write_simple_report(inbox / name, count, seed=seed)
        outcome = ingest_file(box, path, client="simple_report.default", source="watch", now=at,
                              report_dir=reports)
        out.files += 1
        out.duplicates += outcome.duplicates
        return path

    # Three weeks ago: a file whose results never got through (they are given up after 14 days).
    drop("results_2025-12-11_0815.csv", 3, now - 20 * DAY)
    out.dead += box.expire(now=now - 5 * DAY, after_days=14)

    # Last week: daily exports, delivered.
    for day in range(7, 1, -1):
        drop(f"results_{day:02d}_0800.csv", rows, now - day * DAY)
        out.sent += _send_all(box, now - day * DAY + 30)

    # Yesterday: the intake rejected two rows of a file (bad birth dates); the rest went through.
    first = drop("results_yesterday_0800.csv", rows, now - DAY)
    batch = box.claim(now=now - DAY + 20, lease_s=60, owner=OWNER, limit=500, build=BUILD)
    assert batch is not None
    failed, _ = box.reject_items(batch.id, owner=OWNER, failures={
        2: "Patient_DOB: '19450231' is not a valid date (field Patient_DOB)",
        5: "Specimen_collection_date_time is in the future (field Specimen_collection_date_time)",
    }, status=400, now=now - DAY + 22)
    out.failed += len(failed)
    out.sent += _send_all(box, now - DAY + 40)

    # A person retried one of them this morning; it was rejected again.
    box.retry([failed[0]], now=now - 5 * HOUR, actor="person")
    batch = box.claim(now=now - 5 * HOUR + 5, lease_s=60, owner=OWNER, limit=500, build=BUILD)
    assert batch is not None
    box.reject_items(batch.id, owner=OWNER, failures={1: "Patient_DOB: '19450231' is not a valid date "
                                                        "(field Patient_DOB)"}, status=400, now=now - 5 * HOUR + 6)

    # The same export copied under another name: every row a duplicate.
    shutil.copy(first, inbox / "results_yesterday_0800 (copy).csv")
    outcome = ingest_file(box, inbox / "results_yesterday_0800 (copy).csv", client="simple_report.default",
                          source="watch", now=now - 20 * HOUR, report_dir=reports)
    out.files += 1
    out.duplicates += outcome.duplicates

    # A file that is not CSV at all.
    notes = inbox / "notes.csv"
    notes.write_bytes(b"\x00\x01\x02PK\x03\x04 not a csv file" * 20)
    ingest_file(box, notes, client="simple_report.default", source="watch", now=now - 6 * HOUR, report_dir=reports)
    out.rejected_files += 1

    # This morning: delivered.
    drop("results_today_0800.csv", rows, now - 6 * HOUR)
    out.sent += _send_all(box, now - 6 * HOUR + 30)

    # A test export from the lab's new analyser: the intake rejected both rows, and a person
    # discarded them (they are not real results, and are not to be sent).
    drop("results_today_0930_test.csv", 2, now - 4.5 * HOUR)
    batch = box.claim(now=now - 4.5 * HOUR + 10, lease_s=60, owner=OWNER, limit=500, build=BUILD)
    assert batch is not None
    test_rows, _ = box.reject_items(batch.id, owner=OWNER, failures={
        1: "Performing_facility_CLIA: '00D0000000' is not a registered facility (field Performing_facility_CLIA)",
        2: "Performing_facility_CLIA: '00D0000000' is not a registered facility (field Performing_facility_CLIA)",
    }, status=400, now=now - 4.5 * HOUR + 12)
    out.discarded += len(box.discard(test_rows, now=now - 4 * HOUR, actor="person",
                                     reason="test export from the new analyser, not real results"))

    # Since noon the intake has not answered: one batch keeps being retried, more results wait.
    drop("results_today_1200.csv", rows, now - 2 * HOUR)
    batch = box.claim(now=now - 2 * HOUR + 10, lease_s=60, owner=OWNER, limit=500, build=BUILD)
    assert batch is not None
    for attempt, at in enumerate((now - 2 * HOUR + 10, now - 90 * 60, now - 40 * 60), start=1):
        if attempt > 1:
            batch = box.claim(now=at, lease_s=60, owner=OWNER, limit=500, build=BUILD)
            assert batch is not None
        box.backoff(batch.id, owner=OWNER, next_at=at + 60 * 2 ** (attempt + 2), status=None,
                    error="could not reach the intake (ConnectError); the same batch is retried", now=at + 1)
    drop("results_today_1330.csv", rows, now - 30 * 60)
    docs = [{"message_id": f"LIS-{n:06d}", "patient_id": f"P{n:05d}", "test": "94558-4", "result": "260415000"}
            for n in range(4)]
    box.add_items([NewItem(json_hash(d), json.dumps(d), d["message_id"]) for d in docs], source="listener",
                  client="simple_report.default", now=now - 10 * 60)
    out.pending = box.counts().by_state["pending"]
    out.failed = box.counts().by_state["failed"]
    return out


def bulk(path: Path, n: int, *, state: str = "pending", now: float = 1_767_225_600.0) -> None:
    """``n`` small items straight into SQLite in one transaction (for paging tests)."""
    Outbox(path).close()
    conn = sqlite3.connect(str(path), isolation_level=None)
    conn.execute("PRAGMA synchronous = OFF")  # test data: durability does not matter here
    conn.execute("BEGIN")
    first = conn.execute("SELECT coalesce(max(id), 0) + 1 FROM items").fetchone()[0]
    conn.executemany(
        "INSERT INTO items (id, state, source, source_name, line, client, tracking_id, content_hash, "
        "group_key, next_attempt_at, created_at, updated_at) VALUES (?, ?, 'watch', ?, ?, 'c', ?, ?, 'g', ?, ?, ?)",
        ((first + i, state, f"bulk_{i // 1000:04d}.csv", i % 1000 + 2, f"T{i:07d}", f"{i:064x}",
          now, now + i, now + i) for i in range(n)))
    conn.executemany("INSERT INTO payloads (item_id, payload) VALUES (?, ?)",
                     ((first + i, json.dumps({"n": i})) for i in range(n)))
    conn.execute("COMMIT")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()


def write_config(folder: Path, *, url: str = "http://127.0.0.1:9/api/waters") -> Path:
    cfg = folder / "relay.toml"
    cfg.write_text(
        f'[intake]\nurl = "{url}"\nclient = "simple_report.default"\n\n[store]\npath = "outbox.db"\n\n'
        '[[watch]]\nfolder = "inbox"\n\n[listener]\nenabled = false\n\n'
        '[[maintenance]]\ndays = "sun"\nstart = "02:00"\nend = "04:00"\ntimezone = "America/New_York"\n\n'
        # The lab's results wait hours and days on purpose (dead ones get retried): health's age limits would
        # speak over what these tests look at.
        '[health]\nmax_pending_age_s = 31536000\nmax_silence_s = 31536000\n',
        encoding="utf-8")
    return cfg


def main() -> int:
    ap = argparse.ArgumentParser(description="fill an outbox with realistic generated results")
    ap.add_argument("folder")
    ap.add_argument("--rows", type=int, default=40, help="results per daily file")
    args = ap.parse_args()
    folder = Path(args.folder).resolve()
    folder.mkdir(parents=True, exist_ok=True)
    write_config(folder)
    with Outbox(folder / "outbox.db") as box:
        filled = fill(box, folder / "inbox", time.time(), rows=args.rows)
    print(f"{folder / 'relay.toml'}: {filled}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
