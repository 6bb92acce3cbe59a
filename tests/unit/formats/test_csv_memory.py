"""Memory stays flat however large the file: both passes stream."""

from __future__ import annotations

import tracemalloc
from pathlib import Path

from relay.formats.csv_reader import Row, open_csv

MB = 1024 * 1024


def _generate(path: Path, size: int) -> int:
    """A SimpleReport-like file of about ``size`` bytes; returns its number of data rows."""
    comment = "Patient reported mild symptoms, retest advised; " * 160  # rows of ~8 KB
    rows = 0
    with path.open("w", encoding="utf-8-sig", newline="") as out:
        out.write(
            "Result_ID,Patient_last_name,Specimen_collection_date_time,comment,Test_result_code\r\n"
        )
        written = 0
        while written < size:
            line = f'r-{rows:08d},Peña,202202201809-0500,"{comment}\r\n{rows}",260415000\r\n'
            out.write(line)
            written += len(line) + 1
            rows += 1
    return rows


def _peak_while_reading(path: Path) -> tuple[int, int]:
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        file = open_csv(path)
        count = 0
        for item in file:
            assert isinstance(item, Row)
            count += 1
        return count, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_memory_does_not_grow_with_file_size(tmp_path):
    small, large = tmp_path / "small.csv", tmp_path / "large.csv"
    small_rows = _generate(small, 5 * MB)
    large_rows = _generate(large, 50 * MB)
    assert large.stat().st_size >= 10 * small.stat().st_size - MB

    read_small, peak_small = _peak_while_reading(small)
    read_large, peak_large = _peak_while_reading(large)

    assert (read_small, read_large) == (small_rows, large_rows)
    # Both peaks are a few fixed buffers (read chunk, decoder, one record), not the file.
    assert peak_large < 8 * MB
    assert peak_large - peak_small < MB // 2, (peak_small, peak_large)
