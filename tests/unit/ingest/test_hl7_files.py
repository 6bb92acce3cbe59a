"""HL7 files into the outbox: one item per message, one transaction a file, rejects reported."""

from __future__ import annotations

import os
import stat
import tracemalloc

import pytest

from relay import samples_hl7
from relay.ingest.files import ingest_file
from relay.store.outbox import Outbox

T0 = 1_767_225_600.0
MB = 1024 * 1024


@pytest.fixture
def outbox(tmp_path):
    box = Outbox(tmp_path / "o.db")
    yield box
    box.close()


def take(outbox, path, now=T0, **kw):
    return ingest_file(outbox, path, client="lab", source="watch", now=now, report_dir=path.parent, **kw)


def rs_like_file(path, count, *, start=0, seed=1, sep="\r"):
    """A file shaped like ReportStream's public samples (Example-hl7-file.hl7): an FHS/BHS batch
    whose first line holds commas (made-up data only)."""
    text = samples_hl7.batch([samples_hl7.message(n, seed=seed) for n in range(start, start + count)])
    path.write_bytes(text.replace("\r", sep).encode("utf-8"))
    return path


def test_a_reportstream_style_batch_is_hl7_not_csv(outbox, tmp_path):
    path = rs_like_file(tmp_path / "Example-hl7-file.hl7", 3)
    assert b"," in path.read_bytes().split(b"\r")[0]  # what once split the first line into a CSV header
    out = take(outbox, path)
    assert (out.status, out.accepted, out.rows_rejected) == ("accepted", 3, 0)
    items = sorted(outbox.list_items(limit=10), key=lambda i: i.id)
    assert [i.kind for i in items] == ["hl7"] * 3
    assert [i.tracking_id for i in items] == ["1-0", "1-1", "1-2"]
    assert items[0].payload.startswith("MSH|^~\\&|") and items[0].columns is None


@pytest.mark.parametrize("sep", ["\n", "\r\n"])
def test_line_ends_and_the_same_file_again(outbox, tmp_path, sep):
    path = rs_like_file(tmp_path / "lab.txt", 4, sep=sep)
    assert take(outbox, path).accepted == 4
    again = take(outbox, path, now=T0 + 60)
    assert again.status == "already" and outbox.count_items() == 4


def test_resent_messages_in_another_file_are_duplicates(outbox, tmp_path):
    take(outbox, rs_like_file(tmp_path / "a.hl7", 3))
    resend = "".join(samples_hl7.message(n, control_id=f"again-{n}") + "\r" for n in range(3))
    (tmp_path / "b.hl7").write_text(resend)
    out = take(outbox, tmp_path / "b.hl7")
    assert (out.accepted, out.duplicates) == (0, 3)
    assert outbox.counts().duplicates == 3


def test_format_csv_reads_even_an_hl7_file_as_csv_and_hl7_reads_without_sniffing(outbox, tmp_path):
    path = tmp_path / "odd.dat"
    path.write_text("\r\n\r\n" + samples_hl7.message(1))
    assert take(outbox, path, file_format="hl7").accepted == 1
    csv_path = tmp_path / "x.csv"
    csv_path.write_text("MSH|a,b\r\n1,2\r\n")
    out = take(outbox, csv_path, file_format="auto")  # starts with MSH|: read as HL7, and it is not
    assert out.status == "rejected" and "MSH-2" in out.reason
    other = tmp_path / "y.csv"
    other.write_text("MSH|a,b\r\n1,2\r\n\r\n")
    out = take(outbox, other, file_format="csv")
    assert (out.status, out.accepted) == ("accepted", 1)
    assert sorted(i.kind for i in outbox.list_items(limit=10)) == ["hl7", "row"]


def test_bad_messages_go_to_a_private_report_and_the_good_ones_in(outbox, tmp_path):
    text = (samples_hl7.message(1) + "\rMSH|^~\\&|A|B|||2024||\r" + samples_hl7.message(2)
            + "\rnot a segment\r" + samples_hl7.message(3) + "\r")
    path = tmp_path / "mixed.hl7"
    path.write_text(text)
    out = take(outbox, path)
    assert (out.status, out.accepted, out.rows_rejected) == ("accepted", 2, 2)
    report = tmp_path / "mixed.hl7.rejected-messages.hl7"
    errors = tmp_path / "mixed.hl7.error.txt"
    assert out.rows_report == report
    assert report.read_bytes().count(b"MSH|") == 2
    reasons = errors.read_text()
    assert "message 2: MSH-9" in reasons and "message 3: segment 10 " in reasons
    if os.name != "nt":
        assert stat.S_IMODE(report.stat().st_mode) == 0o600
        assert stat.S_IMODE(errors.stat().st_mode) == 0o600
    assert not list(tmp_path.glob("*.partial"))
    # the rejected messages, fixed, can be dropped in again
    assert take(outbox, report).status == "rejected"


def test_a_file_without_any_good_message_is_rejected_whole(outbox, tmp_path):
    path = tmp_path / "bad.hl7"
    path.write_text("MSH|^~\\&|A|B|||2024||\rPID|1\r")
    out = take(outbox, path)
    assert out.status == "rejected" and "MSH-9" in out.reason
    assert outbox.count_items() == 0 and outbox.counts().files_rejected == 1
    assert not (tmp_path / "bad.hl7.rejected-messages.hl7").exists()
    assert "MSH-9" in (tmp_path / "bad.hl7.error.txt").read_text()


def test_all_of_a_files_messages_in_one_transaction(outbox, tmp_path, monkeypatch):
    from relay.store import file_tx

    path = rs_like_file(tmp_path / "big.hl7", 2500)
    calls = {"n": 0}
    real = file_tx.insert_items

    def failing_third_chunk(conn, rows, payloads):
        calls["n"] += 1
        if calls["n"] == 3:
            raise OSError("disk went away")
        real(conn, rows, payloads)

    monkeypatch.setattr(file_tx, "insert_items", failing_third_chunk)
    with pytest.raises(Exception):
        take(outbox, path)
    assert outbox.count_items() == 0 and outbox.counts().files_processed == 0


def _peak(outbox, path):
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        out = take(outbox, path)
        return out, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_a_10000_message_batch_is_read_with_flat_memory(tmp_path):
    small = rs_like_file(tmp_path / "small.hl7", 2000, seed=5)
    large = rs_like_file(tmp_path / "large.hl7", 10_000, seed=6)
    assert large.stat().st_size > 4 * small.stat().st_size
    with Outbox(tmp_path / "a.db") as box_a, Outbox(tmp_path / "b.db") as box_b:
        out_small, peak_small = _peak(box_a, small)
        out_large, peak_large = _peak(box_b, large)
        assert (out_small.accepted, out_large.accepted) == (2000, 10_000)
        assert box_b.count_items() == 10_000
    # chunks of 1,000 messages and 1 MB reads, not the file (about 20 MB)
    assert peak_large < 12 * MB, peak_large
    assert peak_large - peak_small < 2 * MB, (peak_small, peak_large)
