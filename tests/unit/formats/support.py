"""Small helpers for the reader tests: write a file, read it all, split rows from rejects."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from relay.formats.csv_reader import CsvFile, Row, RowReject, open_csv


@dataclass
class Read:
    file: CsvFile
    rows: list[Row]
    rejects: list[RowReject]
    order: list[Row | RowReject]

    @property
    def values(self) -> list[tuple[str, ...]]:
        return [r.values for r in self.rows]

    @property
    def lines(self) -> list[int]:
        return [r.line for r in self.order]


def read_all(file: CsvFile) -> Read:
    order = list(file)
    rows = [item for item in order if isinstance(item, Row)]
    rejects = [item for item in order if isinstance(item, RowReject)]
    assert len(rows) + len(rejects) == len(order)
    assert (file.rows_ok, file.rows_rejected) == (len(rows), len(rejects))
    return Read(file, rows, rejects, order)


def write(tmp_path: Path, data: bytes, name: str = "results.csv") -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def read_bytes(tmp_path: Path, data: bytes, name: str = "results.csv", **kwargs: object) -> Read:
    return read_all(open_csv(write(tmp_path, data, name), **kwargs))  # type: ignore[arg-type]
