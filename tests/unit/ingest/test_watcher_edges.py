"""What a real folder does to the watcher (INTERFACE §3a): writers that pause, links, FIFOs and
devices, any file name, patterns, ignored names, private reports. Real files and real writer
processes; time moves only on the injected clock."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from relay.clock import FakeClock
from relay.config import from_dict
from relay.ingest.watcher import FolderWatcher
from relay.samples import simple_report_csv_bytes
from relay.store.outbox import Outbox

HEADER = b"Result_ID,Patient_last_name,Test_result\r\n"


def make(tmp_path: Path, settle_s: float = 2.0, **watch):
    inbox = tmp_path / "inbox"
    inbox.mkdir(exist_ok=True)
    cfg = from_dict({"watch": [{"folder": str(inbox), "settle_s": settle_s, **watch}],
                     "store": {"path": str(tmp_path / "o.db")}}, None)
    box = Outbox(cfg.store.path)
    clock = FakeClock()
    problems: dict[str, str | None] = {}
    ignored: list[list[str]] = []
    watcher = FolderWatcher(cfg.watches[0], box, client="c", clock=clock,
                            on_problem=lambda k, t: problems.__setitem__(k, t), on_ignored=ignored.append)
    return inbox, box, clock, watcher, problems, ignored


def payloads(box: Outbox) -> list[str]:
    return [i.payload for i in box.list_items(limit=10_000)]


# -- a writer that pauses mid-row --------------------------------------------------------------

WRITER = r"""
import sys
path = sys.argv[1]
with open(path, "wb") as fh:
    fh.write(b"Result_ID,Patient_last_name,Test_result\r\nR1,Smith,positive\r\nR2,Jones,posi")
    fh.flush()
    print("paused", flush=True)
    sys.stdin.readline()          # holds the file open, mid-row, until told to go on
    fh.write(b"tive\r\nR3,Lee,negative\r\n")
"""


def test_writer_pausing_mid_row_is_not_taken_until_it_closes_the_file(tmp_path):
    inbox, box, clock, w, _, _ = make(tmp_path, settle_s=2)
    path = inbox / "live.csv"
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(path)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    try:
        assert writer.stdout.readline().strip() == "paused"
        for _ in range(8):  # 2 minutes of quiet: settled long ago, the no-line-end hold passed too
            w.tick()
            clock.advance(15)
        assert w.tick() == 0
        assert box.count_items() == 0 and path.exists(), "a file still open for writing was taken"
        writer.stdin.write("go\n")
        writer.stdin.close()
        assert writer.wait(30) == 0
    finally:
        if writer.poll() is None:
            writer.kill()
        writer.stdout.close()
        writer.wait()
    w.tick()
    clock.advance(2.5)
    assert w.tick() == 1
    rows = payloads(box)
    assert len(rows) == 3 and any("positive" in p for p in rows)
    assert not any(p.endswith("posi") or "\x1fposi" in p and "positive" not in p for p in rows)


def test_last_row_without_line_end_waits_for_the_longer_hold(tmp_path):
    inbox, box, clock, w, _, _ = make(tmp_path, settle_s=2)
    path = inbox / "cut.csv"
    path.write_bytes(HEADER + b"R1,Smith,positive\r\nR2,Jones,posi")  # the writer closed mid-row
    w.tick()
    clock.advance(29)
    assert w.tick() == 0 and box.count_items() == 0  # settled, but the last row may be cut
    with path.open("ab") as fh:  # the rest arrives: a fresh settle, and now it ends with a line end
        fh.write(b"tive\r\n")
    w.tick()
    clock.advance(2.5)
    assert w.tick() == 1
    assert any(p.endswith("positive") for p in payloads(box)) and box.count_items() == 2


def test_hold_is_ten_settles_when_that_is_longer(tmp_path):
    inbox, box, clock, w, _, _ = make(tmp_path, settle_s=5)
    (inbox / "no-end.csv").write_bytes(HEADER + b"R1,Smith,positive")
    w.tick()
    clock.advance(49)
    assert w.tick() == 0
    clock.advance(1.5)
    assert w.tick() == 1 and box.count_items() == 1  # a file that simply has no final line end


# -- links, FIFOs, devices ---------------------------------------------------------------------


def test_link_to_a_private_file_outside_is_never_read(tmp_path):
    inbox, box, clock, w, _, _ = make(tmp_path, settle_s=0)
    secret = tmp_path / "elsewhere" / "secret.csv"
    secret.parent.mkdir()
    secret.write_bytes(HEADER + b"S1,Secret,positive\r\nS2\r\n")
    secret.chmod(0o600)
    (inbox / "link.csv").symlink_to(secret)
    assert w.tick() == 1
    assert box.count_items() == 0, "rows were read through a link"
    rejected = inbox / "rejected"
    assert (rejected / "link.csv").is_symlink() and not (inbox / "link.csv").is_symlink()
    text = (rejected / "link.csv.error.txt").read_text(encoding="utf-8")
    assert "symbolic link" in text and "Secret" not in text
    assert not list(rejected.glob("*.rejected-rows.csv"))
    assert secret.read_bytes().startswith(HEADER)  # left alone


def test_fifo_and_device_link_never_block_the_folder(tmp_path):
    inbox, box, clock, w, _, _ = make(tmp_path, settle_s=0)
    os.mkfifo(inbox / "pipe.csv")
    (inbox / "zero.csv").symlink_to("/dev/zero")
    (inbox / "good.csv").write_bytes(simple_report_csv_bytes(3))
    assert w.tick() == 3
    assert box.count_items() == 3 and (inbox / "processed" / "good.csv").exists()
    rejected = inbox / "rejected"
    assert stat.S_ISFIFO(os.lstat(rejected / "pipe.csv").st_mode)
    assert "named pipe" in (rejected / "pipe.csv.error.txt").read_text(encoding="utf-8")
    assert (rejected / "zero.csv").is_symlink()
    assert box.counts().files_rejected == 2


@pytest.mark.skipif(not os.path.isdir("/dev/shm"), reason="needs a second file system (/dev/shm)")
def test_what_cannot_be_moved_is_shown_once_as_a_problem_and_holds_nothing_up(tmp_path):
    elsewhere = Path(tempfile.mkdtemp(dir="/dev/shm"))
    try:
        if os.stat(elsewhere).st_dev == os.stat(tmp_path).st_dev:
            pytest.skip("/dev/shm is on the same file system here")
        inbox, box, clock, w, problems, _ = make(tmp_path, settle_s=0, rejected_folder=str(elsewhere / "rejected"))
        calls: list[tuple[str, str | None]] = []
        w.on_problem = lambda k, t: (calls.append((k, t)), problems.__setitem__(k, t))
        os.mkfifo(inbox / "pipe.csv")
        (inbox / "good.csv").write_bytes(simple_report_csv_bytes(2))
        w.tick()
        assert (inbox / "processed" / "good.csv").exists() and box.count_items() == 2
        assert stat.S_ISFIFO(os.lstat(inbox / "pipe.csv").st_mode)  # left where it is, never opened
        shown = [t for k, t in calls if t and "pipe.csv" in t]
        assert len(shown) == 1 and "named pipe" in shown[0] and "Remove it" in shown[0]
        clock.advance(31)  # the periodic rescan meets it again: not shown again
        w.tick()
        assert len([t for k, t in calls if t and "pipe.csv" in t]) == 1
        (inbox / "pipe.csv").unlink()  # a person removed it: the problem goes
        clock.advance(31)
        w.tick()
        assert not any(t for k, t in problems.items() if "pipe.csv" in k)
    finally:
        shutil.rmtree(elsewhere)


def test_a_folder_with_a_matching_name_is_set_aside(tmp_path):
    inbox, box, clock, w, _, _ = make(tmp_path, settle_s=0)
    (inbox / "box.csv").mkdir()
    (inbox / "good.csv").write_bytes(simple_report_csv_bytes(1))
    assert w.tick() == 2 and (inbox / "rejected" / "box.csv").is_dir()
    assert "folder" in (inbox / "rejected" / "box.csv.error.txt").read_text(encoding="utf-8")


def test_reports_are_readable_by_the_owner_only(tmp_path):
    inbox, box, clock, w, _, _ = make(tmp_path, settle_s=0)
    (inbox / "mixed.csv").write_bytes(HEADER + b"R1,Smith,positive\r\nR2\r\n")
    (inbox / "empty.csv").write_bytes(b"")
    w.tick()
    for report in (inbox / "rejected" / "mixed.csv.rejected-rows.csv", inbox / "rejected" / "empty.csv.error.txt"):
        assert stat.S_IMODE(report.stat().st_mode) == 0o600, report


# -- patterns and ignored names ----------------------------------------------------------------


def test_patterns_are_case_insensitive_and_may_be_a_list(tmp_path):
    inbox, box, clock, w, _, ignored = make(tmp_path, settle_s=0, pattern=["*.csv", "export-*.txt"])
    (inbox / "RESULTS.CSV").write_bytes(simple_report_csv_bytes(1, seed=1))
    (inbox / "Export-monday.TXT").write_bytes(simple_report_csv_bytes(1, seed=2))
    (inbox / "notes.docx").write_bytes(b"PK\x03\x04")
    assert w.tick() == 2 and box.count_items() == 2
    assert ignored[-1] == ["notes.docx"]
    w.rescan()
    assert len(ignored) == 1  # listed once
    (inbox / "notes.docx").unlink()
    w.rescan()
    assert ignored[-1] == []


def test_ignored_files_show_in_status(tmp_path):
    from relay.agent import Agent
    from relay.clock import FakeClock as Clock

    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "readme.txt").write_text("not a result")
    cfg = from_dict({"watch": [{"folder": str(inbox), "settle_s": 0}], "store": {"path": str(tmp_path / "o.db")},
                     "listener": {"enabled": False}}, None)
    with Agent(cfg, clock=Clock()) as agent:
        watcher = agent.sources[0]
        watcher.rescan()
        assert agent.stats()["ignored_files"] == [{"folder": str(inbox), "name": "readme.txt"}]


# -- any name the OS allows --------------------------------------------------------------------

NAMES = ["Resultados Peña José – lunes.csv", "two\nlines.csv", " leading space.csv", "trailing space .csv",
         "tab\there.csv", "emoji 🧪.csv"]


def test_any_name_is_taken_and_moved(tmp_path):
    inbox, box, clock, w, _, _ = make(tmp_path, settle_s=0)
    paths = [inbox / name for name in NAMES]
    paths.append(Path(os.fsdecode(bytes(inbox) + b"/latin1 \xe9t\xe9.csv")))
    for n, path in enumerate(paths):
        path.write_bytes(simple_report_csv_bytes(2, seed=n))
    assert w.tick() == len(paths)
    assert box.count_items() == 2 * len(paths)
    assert sorted(p.name for p in (inbox / "processed").iterdir()) == sorted(p.name for p in paths)
    names = {i.source_name for i in box.list_items(limit=100)}
    assert "latin1 \\xe9t\\xe9.csv" in names and "Resultados Peña José – lunes.csv" in names


def test_non_utf8_name_of_a_bad_file_gets_its_report(tmp_path):
    inbox, box, clock, w, _, _ = make(tmp_path, settle_s=0)
    bad = Path(os.fsdecode(bytes(inbox) + b"/\xff\xfe bad.csv"))
    bad.write_bytes(b"")
    (inbox / "z.csv").write_bytes(simple_report_csv_bytes(1))
    assert w.tick() == 2
    report = Path(os.fsdecode(bytes(inbox) + b"/rejected/\xff\xfe bad.csv.error.txt"))
    assert "\\xff\\xfe bad.csv" in report.read_text(encoding="utf-8") and box.count_items() == 1


name_bytes = st.binary(min_size=1, max_size=60).filter(
    lambda b: b"/" not in b and b"\x00" not in b and b not in (b".", b".."))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(names=st.lists(name_bytes, min_size=1, max_size=5, unique=True))
def test_property_every_file_delivers_all_its_rows_or_is_reported(tmp_path_factory, names):
    tmp = tmp_path_factory.mktemp("names")
    inbox, box, clock, w, problems, ignored = make(tmp, settle_s=0, pattern="*")
    expected = 0
    paths = []
    for n, raw in enumerate(names):
        path = Path(os.fsdecode(bytes(inbox) + b"/" + raw))
        try:
            path.write_bytes(simple_report_csv_bytes(2, seed=n))
        except OSError:  # a name this file system refuses (too long): nothing to take
            continue
        paths.append(path)
    for _ in range(3):
        w.tick()
        clock.advance(31)
    for path in paths:
        name = path.name
        if name.lower().startswith(("~$", ".")) or name.lower().endswith(
                (".tmp", ".part", ".partial", ".crdownload", ".error.txt", ".rejected-rows.csv")):
            assert path.exists()  # a temporary name: left for its writer
            continue
        expected += 2
        assert not path.exists(), f"{name!r} was never taken"
        assert (inbox / "processed" / name).exists() or (inbox / "rejected" / name).exists()
    assert box.count_items() + box.counts().duplicates == expected
    assert not any(problems.values())
