"""The window's CSV export: readable by the owner only, and safe to open in a spreadsheet
(INTERFACE §3a)."""

from __future__ import annotations

import csv
import os
import stat

import pytest

from relay.ingest.files import ingest_file
from relay.store.outbox import Outbox
from relay.ui.export import cell, export_items


def test_cells_that_start_like_a_formula_get_a_quote():
    for risky in ("=1+1", "+1", "-2", "@SUM(A1)", "\tx", "\rx"):
        assert cell(risky) == "'" + risky
    assert cell("Peña") == "Peña" and cell("") == "" and cell(-3) == -3 and cell("a=b") == "a=b"


def test_export_is_made_0600_and_quotes_formulas(tmp_path):
    src = tmp_path / "results.csv"
    src.write_text("Result_ID,Patient_last_name,Note\r\n"
                   'r1,"=HYPERLINK(""http://x"",""y"")",+12\r\n'
                   "r2,@Lee,-5 mg\r\n"
                   "r3,Okafor,plain\r\n", encoding="utf-8")
    with Outbox(tmp_path / "outbox.db") as box:
        ingest_file(box, src, client="c", source="test", now=1_000.0, report_dir=tmp_path)
        items = [box.get_item(i.id) for i in box.list_items(limit=10)]
    target = tmp_path / "export.csv"
    target.write_text("an older export, readable by all")
    os.chmod(target, 0o644)
    assert export_items(sorted(items, key=lambda i: i.id), target) == 3
    if os.name == "posix":
        assert stat.S_IMODE(target.stat().st_mode) == 0o600
    with target.open(encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["Patient_last_name"] for r in rows] == ["'=HYPERLINK(\"http://x\",\"y\")", "'@Lee", "Okafor"]
    assert [r["Note"] for r in rows] == ["'+12", "'-5 mg", "plain"]


@pytest.mark.skipif(os.name != "posix", reason="file modes")
def test_a_leftover_partial_file_does_not_lend_its_mode(tmp_path):
    target = tmp_path / "x.csv"
    partial = tmp_path / "x.csv.partial"
    partial.write_text("left from a crash")
    os.chmod(partial, 0o666)
    export_items([], target)
    assert stat.S_IMODE(target.stat().st_mode) == 0o600 and not partial.exists()
