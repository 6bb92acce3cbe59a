"""CSV -> HL7 ELR at ingest: rows/s of a file translated into the outbox, beside plain ingest of the
same file in the same run.

    .venv/bin/python bench/elr.py [--rows 20000] [--rounds 3]

For each layout (SimpleReport PDI and the standard upload layout) a file of generated rows is read
into a fresh outbox by relay's own ingest path, once plain (rows stored as CSV items) and once with
[translate] on (each row also becomes an ORU^R01 message, checked as it is built, stored as the
item's wire form), alternating, each run in its own process (peak RSS per process). Also the builder
alone (rows already in memory -> messages). Medians of the rounds.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

TRANSLATE = {"to": "hl7-elr-2.5.1", "sending_application": "relay^2.16.840.1.113883.3.9999^ISO",
             "timezone": "America/New_York"}


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def worker(kind: str, path: Path, db: Path) -> dict[str, float]:
    from relay.config import TranslateConfig
    from relay.ingest.files import ingest_file
    from relay.store.outbox import Outbox

    translate = TranslateConfig(**TRANSLATE) if kind == "translated" else None
    t0 = time.perf_counter()
    box = Outbox(db)
    out = ingest_file(box, path, client="simple_report.default", source="bench", now=time.time(),
                      report_dir=db.parent, translate=translate)
    box.close()
    seconds = time.perf_counter() - t0
    return {"rows": out.accepted, "rejected": out.rows_rejected, "seconds": seconds, "rss_mb": peak_rss_mb()}


def builder_only(layout: str, rows: int) -> float:
    from relay.formats.elr import ElrSettings, ElrTranslator
    from relay.samples import SIMPLE_REPORT_COLUMNS, UPLOAD_COLUMNS, simple_report_rows, upload_rows

    columns = SIMPLE_REPORT_COLUMNS if layout == "pdi" else UPLOAD_COLUMNS
    made = simple_report_rows(rows, seed=21) if layout == "pdi" else upload_rows(rows, seed=22)
    values = [[r[c] for c in columns] for r in made]
    translator = ElrTranslator(columns, ElrSettings(**{k: v for k, v in TRANSLATE.items() if k != "to"}))
    now = time.time()
    t0 = time.perf_counter()
    for n, row in enumerate(values):
        translator.translate(row, tracking_id=None, content_hash=f"{n:064x}", now=now)
    return rows / (time.perf_counter() - t0)


def run_worker(kind: str, path: Path, workdir: Path) -> dict[str, float]:
    db = Path(tempfile.mkdtemp(dir=workdir)) / "bench.db"
    out = subprocess.run([sys.executable, __file__, "--worker", kind, str(path), str(db)],
                         capture_output=True, text=True, check=True)
    result: dict[str, float] = json.loads(out.stdout)
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--worker", nargs=3, metavar=("KIND", "FILE", "DB"))
    args = parser.parse_args()
    if args.worker:
        kind, path, db = args.worker
        print(json.dumps(worker(kind, Path(path), Path(db))))
        return

    from relay.samples import write_simple_report, write_upload

    with tempfile.TemporaryDirectory(prefix="bench-elr-") as tmp:
        work = Path(tmp)
        files = {"pdi": write_simple_report(work / "pdi.csv", args.rows, seed=21),
                 "upload": write_upload(work / "upload.csv", args.rows, seed=22)}
        print(f"{args.rows:,} rows a file, {args.rounds} rounds, medians; each run in its own process")
        print(f"{'layout':8} {'plain rows/s':>13} {'translated rows/s':>18} {'ratio':>6} {'builder rows/s':>15} "
              f"{'rejected':>9} {'RSS plain/translated MB':>24}")
        for layout, path in files.items():
            plain: list[dict[str, float]] = []
            translated: list[dict[str, float]] = []
            for _ in range(args.rounds):
                plain.append(run_worker("plain", path, work))
                translated.append(run_worker("translated", path, work))
            p = statistics.median(r["rows"] / r["seconds"] for r in plain)
            t = statistics.median(r["rows"] / r["seconds"] for r in translated)
            b = statistics.median(builder_only(layout, min(args.rows, 10_000)) for _ in range(args.rounds))
            rss = f"{max(r['rss_mb'] for r in plain):.0f}/{max(r['rss_mb'] for r in translated):.0f}"
            print(f"{layout:8} {p:13,.0f} {t:18,.0f} {t / p:6.2f} {b:15,.0f} {int(translated[0]['rejected']):9d} "
                  f"{rss:>24}")


if __name__ == "__main__":
    main()
