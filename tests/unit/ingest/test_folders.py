"""Moves that never overwrite (relay/ingest/folders.py), and a move cut short by a kill."""

from __future__ import annotations

import os

import pytest

from relay.formats.file_errors import FileChanged
from relay.ingest.folders import move_unique
from relay.samples import write_simple_report


def identity(path):
    st = os.lstat(path)
    return st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns


def test_a_name_taken_by_another_file_gets_the_next_free_variant(tmp_path):
    (tmp_path / "done").mkdir()
    (tmp_path / "done" / "a.csv").write_bytes(b"another file\r\n")
    src = tmp_path / "a.csv"
    src.write_bytes(b"x,y\r\n1,2\r\n")
    moved = move_unique(src, tmp_path / "done", expected=identity(src))
    assert moved.name == "a (2).csv" and not src.exists()
    assert (tmp_path / "done" / "a.csv").read_bytes() == b"another file\r\n"


@pytest.mark.parametrize("taken", [False, True])
def test_a_move_cut_short_after_its_link_is_finished_not_made_twice(tmp_path, taken):
    done = tmp_path / "done"
    done.mkdir()
    if taken:  # the wanted name held another file, so the cut-short move linked "a (2).csv"
        (done / "a.csv").write_bytes(b"another file\r\n")
    src = tmp_path / "a.csv"
    src.write_bytes(b"x,y\r\n1,2\r\n")
    os.link(src, done / ("a (2).csv" if taken else "a.csv"))  # relay killed before the unlink
    moved = move_unique(src, done, expected=identity(src))
    assert moved.name == ("a (2).csv" if taken else "a.csv") and not src.exists()
    assert sorted(p.name for p in done.iterdir()) == (["a (2).csv", "a.csv"] if taken else ["a.csv"])


def test_a_file_replaced_after_a_cut_short_move_is_not_taken_for_it(tmp_path):
    done = tmp_path / "done"
    done.mkdir()
    src = tmp_path / "a.csv"
    src.write_bytes(b"x,y\r\n1,2\r\n")
    read = identity(src)
    os.link(src, done / "a.csv")
    src.unlink()
    src.write_bytes(b"x,y\r\n3,4\r\n")  # another file under the name now
    with pytest.raises(FileChanged):
        move_unique(src, done, expected=read)
    assert src.exists()


def test_the_watcher_finishes_a_move_that_a_kill_cut_short(watched):
    inbox, box, clock, watcher = watched
    (inbox / "processed").mkdir()
    path = write_simple_report(inbox / "a.csv", 10)
    watcher.tick()
    clock.advance(1.5)
    assert watcher.tick() == 1
    moved = inbox / "processed" / "a.csv"
    os.link(moved, path)  # as if the kill came between the move's link and its unlink
    watcher.rescan()
    watcher.tick()
    clock.advance(1.5)
    assert watcher.tick() == 1  # met again: already in the ledger, nothing added
    assert not path.exists() and [p.name for p in (inbox / "processed").iterdir()] == ["a.csv"]
    assert box.count_items() == 10
