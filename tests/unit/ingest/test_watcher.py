"""Watched folders through FolderWatcher.tick() with a fake clock, and once with the real observer."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

from relay.clock import FakeClock
from relay.config import from_dict
from relay.ingest.watcher import FolderWatcher
from relay.samples import simple_report_csv_bytes, write_simple_report
from relay.store.outbox import Outbox


@pytest.fixture
def setup(tmp_path):
    def make(settle_s=2.0, poll=False, **watch):
        inbox = tmp_path / "inbox"
        inbox.mkdir(exist_ok=True)
        cfg = from_dict({"watch": [{"folder": str(inbox), "settle_s": settle_s, "poll": poll, **watch}],
                         "store": {"path": str(tmp_path / "o.db")}}, None)
        box = Outbox(cfg.store.path)
        clock = FakeClock()
        problems: dict[str, str | None] = {}
        woken = []
        watcher = FolderWatcher(cfg.watches[0], box, client="simple_report.default", clock=clock,
                                on_new_work=lambda: woken.append(1),
                                on_problem=lambda k, t: problems.__setitem__(k, t))
        return inbox, box, clock, watcher, problems, woken

    return make


def test_file_present_at_start_is_taken_after_settling(setup):
    inbox, box, clock, w, _, woken = setup()
    write_simple_report(inbox / "a.csv", 5)
    assert w.tick() == 0  # first sight: not yet known to be complete
    clock.advance(1)
    assert w.tick() == 0
    clock.advance(1.1)
    assert w.tick() == 1
    assert not (inbox / "a.csv").exists() and (inbox / "processed" / "a.csv").exists()
    assert box.count_items() == 5 and woken
    rec = box.list_files()[0]
    assert rec.moved_to == str(inbox / "processed" / "a.csv")


def test_file_written_slowly_in_pieces_is_taken_once_whole(setup):
    inbox, box, clock, w, _, _ = setup()
    data = simple_report_csv_bytes(40)
    path = inbox / "slow.csv"
    pieces = [data[i:i + 1500] for i in range(0, len(data), 1500)]
    for piece in pieces:
        with path.open("ab") as fh:
            fh.write(piece)
        w.tick()
        clock.advance(1.5)  # less than settle_s between pieces
    assert box.count_items() == 0
    clock.advance(2)
    assert w.tick() == 1
    assert box.count_items() == 40
    assert (inbox / "processed" / "slow.csv").read_bytes() == data


def test_renamed_into_place_is_taken_at_once(setup):
    inbox, box, clock, w, _, _ = setup(settle_s=30)
    staged = write_simple_report(inbox.parent / "staging.csv", 3)
    staged.rename(inbox / "final.csv")
    w._hints.put((str(inbox / "final.csv"), True))  # what the observer reports for a move
    assert w.tick() == 1 and box.count_items() == 3


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="inotify's move events are Linux's")
def test_moved_in_from_another_folder_is_taken_at_once_and_a_written_file_settles(setup):
    """`mv /elsewhere/x.csv inbox/` is an atomic rename: the OS reports it as a move into the folder
    (not as a new file), so the file is whole and taken without waiting settle_s; a file written
    in place still waits."""
    inbox, box, clock, w, _, _ = setup(settle_s=30)
    w._start_observer()
    try:
        staged = write_simple_report(inbox.parent / "export.csv", 3)
        staged.rename(inbox / "moved.csv")
        hints = [w._hints.get(timeout=10)]
        assert hints == [(str(inbox / "moved.csv"), True)]
        w._hints.put(hints[0])
        assert w.tick() == 1 and box.count_items() == 3  # the fake clock never moved
        (inbox / "written.csv").write_bytes(simple_report_csv_bytes(2, seed=5))
        seen = w._hints.get(timeout=10)
        assert seen == (str(inbox / "written.csv"), False)
        w._hints.put(seen)
        assert w.tick() == 0 and box.count_items() == 3
        clock.advance(31)
        assert w.tick() == 1 and box.count_items() == 5
    finally:
        w._stop_observer()


def test_five_hundred_files_dropped_at_once_are_all_taken(setup):
    inbox, box, clock, w, _, _ = setup(settle_s=0)
    for i in range(500):
        (inbox / f"r{i:03}.csv").write_bytes(simple_report_csv_bytes(1, seed=i))
    assert w.tick() == 500
    assert box.count_items() == 500 and box.counts().files_processed == 500
    assert len(list((inbox / "processed").iterdir())) == 500


def test_temporary_and_report_names_are_ignored(setup):
    inbox, box, clock, w, _, _ = setup(settle_s=0)
    for name in ("~$book.csv", ".hidden.csv", "x.csv.tmp", "y.csv.part", "notes.txt"):
        (inbox / name).write_bytes(simple_report_csv_bytes(1))
    assert w.tick() == 0 and box.count_items() == 0


def test_copy_of_sent_file_yields_only_duplicates_and_is_processed(setup):
    inbox, box, clock, w, _, _ = setup(settle_s=0)
    data = simple_report_csv_bytes(10)
    (inbox / "monday.csv").write_bytes(data)
    w.tick()
    (inbox / "monday-copy.csv").write_bytes(data)
    w.rescan()
    w.tick()
    assert box.count_items() == 10 and box.counts().duplicates == 10
    assert (inbox / "processed" / "monday-copy.csv").exists()


def test_same_name_again_never_overwrites(setup):
    inbox, box, clock, w, _, _ = setup(settle_s=0)
    (inbox / "daily.csv").write_bytes(simple_report_csv_bytes(2, seed=1))
    w.tick()
    (inbox / "daily.csv").write_bytes(simple_report_csv_bytes(2, seed=2))
    clock.advance(31)  # the periodic rescan finds it without any OS event
    w.tick()
    names = sorted(p.name for p in (inbox / "processed").iterdir())
    assert names == ["daily (2).csv", "daily.csv"] and box.count_items() == 4


@pytest.mark.parametrize("content, words", [
    (b"", "empty"),
    (b"Result_ID,Patient_last_name\r\n", "no data rows"),
    (b"\x89PNG\r\n\x1a\n" + bytes(500), "binary"),
    (b"just some words without separators\n", "not a csv header"),
])
def test_bad_file_goes_to_rejected_with_reason(setup, content, words):
    inbox, box, clock, w, _, _ = setup(settle_s=0)
    (inbox / "bad.csv").write_bytes(content)
    w.tick()
    rejected = inbox / "rejected"
    assert (rejected / "bad.csv").read_bytes() == content
    assert words in (rejected / "bad.csv.error.txt").read_text(encoding="utf-8").lower()
    assert box.counts().files_rejected == 1 and not (inbox / "bad.csv").exists()


def test_bad_rows_report_lands_in_rejected_and_file_in_processed(setup):
    inbox, box, clock, w, _, _ = setup(settle_s=0)
    (inbox / "mixed.csv").write_text("Result_ID,Patient_last_name\nA1,Smith\nA2\nA3,Jones\n", encoding="utf-8")
    w.tick()
    assert (inbox / "processed" / "mixed.csv").exists()
    report = (inbox / "rejected" / "mixed.csv.rejected-rows.csv").read_text(encoding="utf-8-sig")
    assert "line 3: 1 field, header has 2" in report and box.count_items() == 2


def test_crash_between_commit_and_move_is_healed_by_the_ledger(setup):
    inbox, box, clock, w, _, _ = setup(settle_s=0)
    from relay.ingest.files import ingest_file

    path = write_simple_report(inbox / "a.csv", 4)
    ingest_file(box, path, client="c", source="watch", now=clock.now(), report_dir=inbox)  # committed, not moved
    assert w.tick() == 1
    assert box.count_items() == 4 and box.counts().duplicates == 0
    assert (inbox / "processed" / "a.csv").exists()


def test_missing_folder_is_a_problem_that_clears_itself(setup, tmp_path):
    inbox, box, clock, w, problems, _ = setup(settle_s=0)
    moved = tmp_path / "unplugged"
    inbox.rename(moved)
    w.rescan()
    assert "missing" in problems[w.problem_key]
    moved.rename(inbox)
    w.rescan()
    assert problems[w.problem_key] is None


def test_vanishing_file_is_dropped_quietly(setup):
    inbox, box, clock, w, _, _ = setup()
    path = write_simple_report(inbox / "gone.csv", 1)
    w.tick()
    path.unlink()
    clock.advance(5)
    assert w.tick() == 0 and box.count_items() == 0


@pytest.mark.parametrize("poll", [False, True])
def test_real_observer_and_thread_take_a_dropped_file(tmp_path, poll):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    cfg = from_dict({"watch": [{"folder": str(inbox), "settle_s": 0.2, "poll": poll}],
                     "store": {"path": str(tmp_path / "o.db")}}, None)
    from relay.clock import SystemClock

    box = Outbox(cfg.store.path)
    w = FolderWatcher(cfg.watches[0], box, client="c", clock=SystemClock())
    w.start()
    try:
        staged = write_simple_report(tmp_path / "x.csv", 3)
        staged.rename(inbox / "x.csv")
        target = inbox / "processed" / "x.csv"
        deadline = time.monotonic() + 20
        while not target.exists() and time.monotonic() < deadline:
            w._wake.wait(0.05)  # waiting on the condition, bounded
        assert target.exists() and box.count_items() == 3
    finally:
        w.stop()
        box.close()
