"""The row-reading helper process (relay.ingest.parse_helper).

A file whose rows the helper read gives the outbox, the reports and the outcome that reading it in
relay's own thread gives, for real-world files and bad ones; a file that is not the one relay
probed is read again later; a helper that stops fails only that read; a file read ahead is served
from the helper's memory only while it is the same file; the helper ends when relay is killed.
"""

from __future__ import annotations

import io
import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from relay.formats.csv_reader import FIELD_LIMIT, open_csv_stream
from relay.formats.file_errors import FileChanged
from relay.ingest import parse_helper
from relay.ingest.entries import Handle
from relay.ingest.files import ingest_file
from relay.samples import write_simple_report
from relay.store.outbox import Outbox
from tests.helpers.waiting import wait_until

T0 = 1_767_225_600.0
NEVER = 1 << 62  # min_bytes no file reaches: every file read in relay's own thread


@pytest.fixture
def helper(monkeypatch):
    """The process's helper, reading every file (min_bytes 0)."""
    h = parse_helper.ParseHelper(min_bytes=0)
    monkeypatch.setattr(parse_helper, "_shared", h)
    assert h.wait_ready(60)
    yield h
    h.close()


def simple_report_with_trouble(path: Path) -> Path:
    """A SimpleReport export with what real files hold: a duplicate row, blank lines, a ragged row,
    Excel's trailing empty columns, a quoted line break, and a Ctrl-Z at the end."""
    write_simple_report(path, 120, seed=5)
    lines = path.read_bytes().split(b"\r\n")
    header, rows = lines[0], [line for line in lines[1:] if line]
    rows.insert(10, rows[3])  # the same result twice
    rows.insert(20, b"")
    rows.insert(30, b"too,few,fields")
    rows[40] = rows[40] + b",,,"
    assert b'"' in rows[2] and b"Main St" in rows[2]  # its address is quoted (it holds a comma)
    rows.insert(50, rows[2].replace(b"Main St", b"Main\r\nSt", 1))  # a line break inside quotes: one more row
    path.write_bytes(b"\r\n".join([header, *rows]) + b"\r\n\x1a")
    return path


CASES = {
    "simple report with trouble": lambda p: simple_report_with_trouble(p),
    "windows-1252": lambda p: p.write_bytes(
        "Result_ID,Patient_last_name,Note\r\n".encode() + b"".join(
            f"r{n},Garc\xeda{n},caf\xe9 n\xb0{n}\r\n".encode("latin-1") for n in range(50))),
    "utf-16 with BOM": lambda p: p.write_bytes(
        ("Result_ID,Patient_last_name\r\n" + "".join(f"r{n},Nguyễn{n}\r\n" for n in range(40))).encode("utf-16")),
    "semicolons": lambda p: p.write_bytes(
        b"Result_ID;Patient_last_name;Test_result\r\n" + b"".join(b"r%d;Smith, J%d;positive\r\n" % (n, n)
                                                                    for n in range(30))),
    "a field over the limit": lambda p: p.write_bytes(
        b"Result_ID,Note\r\nr1,short\r\nr2," + b"x" * (FIELD_LIMIT + 10) + b"\r\nr3,fine\r\n"),
    "header only": lambda p: p.write_bytes(b"Result_ID,Patient_last_name\r\n"),
    "every row bad": lambda p: p.write_bytes(b"a,b,c\r\n1\r\n2\r\n3,4,5,6\r\n"),
    "not text": lambda p: p.write_bytes(bytes(range(256)) * 64),
    "empty": lambda p: p.write_bytes(b""),
}


ACCEPTED = ("simple report with trouble", "windows-1252", "semicolons", "a field over the limit")


def snapshot(db: Path) -> dict[str, list[tuple[object, ...]]]:
    conn = sqlite3.connect(db)
    try:
        return {
            "items": conn.execute("SELECT i.line, i.tracking_id, i.content_hash, i.state, p.payload, p.wire "
                                  "FROM items i JOIN payloads p ON p.item_id = i.id ORDER BY i.id").fetchall(),
            "duplicates": conn.execute("SELECT content_hash, line, tracking_id FROM duplicates ORDER BY id").fetchall(),
            "files": conn.execute("SELECT name, outcome, rows_accepted, rows_duplicate, rows_rejected, blank_rows, "
                                  "reason FROM files ORDER BY id").fetchall(),
        }
    finally:
        conn.close()


def read_with(monkeypatch, tmp_path: Path, case: str, min_bytes: int) -> tuple[object, ...]:
    """The outcome, outbox and reports of one case's file read with the helper or without."""
    where = tmp_path / ("helper" if min_bytes == 0 else "thread")
    where.mkdir()
    h = parse_helper.ParseHelper(min_bytes=min_bytes)
    monkeypatch.setattr(parse_helper, "_shared", h)
    assert h.wait_ready(60)
    path = where / "export.csv"
    CASES[case](path)
    box = Outbox(where / "o.db")
    try:
        out = ingest_file(box, path, client="c", source="watch", now=T0, report_dir=where)
    finally:
        box.close()
        h.close()
    reports = {p.name: p.read_bytes() for p in where.iterdir() if p.name.startswith("export.csv.")}
    fields = (out.status, out.accepted, out.duplicates, out.rows_rejected, out.blank_rows, out.reason)
    return fields, snapshot(where / "o.db"), reports, h.files_read


@pytest.mark.parametrize("case", list(CASES))
def test_the_helper_reads_a_file_as_relay_own_thread_does(monkeypatch, tmp_path, case):
    helped = read_with(monkeypatch, tmp_path, case, 0)
    alone = read_with(monkeypatch, tmp_path, case, NEVER)
    assert helped[:3] == alone[:3]
    assert alone[3] == 0
    # the helper read every file that was taken (the probe turns away files it cannot read at all)
    assert helped[3] == (1 if helped[0][0] == "accepted" else 0)
    assert helped[0][0] == ("accepted" if case in ACCEPTED else "rejected")
    if case == "simple report with trouble":
        fields, snap, reports, _ = helped
        assert fields[:5] == ("accepted", 121, 1, 1, 2)  # blank: the empty line and the Ctrl-Z
        assert len(snap["items"]) == 121 and any(b"too,few,fields" in r for r in reports.values())


def test_large_file_read_by_the_helper_by_default(monkeypatch, tmp_path):
    h = parse_helper.ParseHelper()  # the shipped threshold
    monkeypatch.setattr(parse_helper, "_shared", h)
    assert h.wait_ready(60)
    small = write_simple_report(tmp_path / "small.csv", 20)
    large = write_simple_report(tmp_path / "large.csv", 1_000, start=100)
    assert small.stat().st_size < parse_helper.MIN_BYTES <= large.stat().st_size
    box = Outbox(tmp_path / "o.db")
    try:
        assert ingest_file(box, small, client="c", source="watch", now=T0, report_dir=tmp_path).accepted == 20
        assert h.files_read == 0
        assert ingest_file(box, large, client="c", source="watch", now=T0, report_dir=tmp_path).accepted == 1_000
        assert h.files_read == 1
    finally:
        box.close()
        h.close()


def probed(path: Path) -> tuple[Handle, object, tuple[int, int, int, int]]:
    handle = Handle(path)
    data = open_csv_stream(handle.reader, path.name, path, None)
    i = handle.identity
    return handle, data, (i.dev, i.ino, i.size, i.mtime_ns)


def test_a_file_that_grew_after_relay_probed_it_is_read_again_later(helper, tmp_path):
    path = write_simple_report(tmp_path / "a.csv", 50)
    handle, data, identity = probed(path)
    with handle:
        with path.open("ab") as fh:
            fh.write(b"one,more,row\r\n")
        rows = helper.rows(data, identity)
        assert rows is not None
        with pytest.raises(FileChanged):
            list(rows)
    assert helper.usable and helper.files_read == 0


def test_a_file_rewritten_in_place_with_its_size_and_time_is_not_taken(helper, tmp_path):
    path = write_simple_report(tmp_path / "a.csv", 50)
    handle, data, identity = probed(path)
    st = path.stat()
    with handle:
        body = path.read_bytes()
        with path.open("r+b") as fh:  # same inode, same size
            fh.write(body.replace(b"Albany", b"Athens", 1))
        os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))  # and the same modification time
        rows = helper.rows(data, identity)
        assert rows is not None
        with pytest.raises(FileChanged):  # the helper's SHA-256 is not the one relay probed
            list(rows)


def stopping_helper(after_frames: int) -> list[str]:
    """A helper that says it is ready, reads one request, answers ``after_frames`` chunks of rows,
    and exits."""
    code = (
        "import sys; from relay.ingest.parse_helper import read_frame, write_frame\n"
        "write_frame(sys.stdout.buffer, ('ready',))\n"
        "read_frame(sys.stdin.buffer)\n"
        f"for n in range({after_frames}): write_frame(sys.stdout.buffer, ('rows', [(2 + n, 'x', None, 'h%d' % n)], []))\n"
        "sys.exit(3)\n"
    )
    return [sys.executable, "-c", code]


def test_a_helper_that_stops_mid_file_costs_only_a_second_read(monkeypatch, tmp_path):
    commands = [stopping_helper(2), parse_helper.helper_command()]
    h = parse_helper.ParseHelper(command=lambda: commands.pop(0), min_bytes=0)
    monkeypatch.setattr(parse_helper, "_shared", h)
    path = write_simple_report(tmp_path / "a.csv", 30)
    box = Outbox(tmp_path / "o.db")
    try:
        assert h.wait_ready(60)
        with pytest.raises(parse_helper.HelperStopped):  # its two chunks of made-up rows are not kept...
            with box.file_transaction(name="x", path=None, file_hash="h", size=1, source="watch", client="c",
                                      columns=("a",), now=T0) as tx:
                handle, data, identity = probed(path)
                with handle:
                    for found in h.rows(data, identity) or ():
                        tx.add(*found)
        assert box.count_items() == 0 and snapshot(tmp_path / "o.db")["files"] == []
        assert h.wait_ready(60)
        out = ingest_file(box, path, client="c", source="watch", now=T0, report_dir=tmp_path)
        assert (out.status, out.accepted) == ("accepted", 30) and h.files_read == 1  # ...a new helper's are
    finally:
        box.close()
        h.close()


def test_a_file_whose_helper_stopped_is_read_in_relay_own_thread_and_kept_once(monkeypatch, tmp_path, caplog):
    h = parse_helper.ParseHelper(command=lambda: stopping_helper(1), min_bytes=0)
    monkeypatch.setattr(parse_helper, "_shared", h)
    box = Outbox(tmp_path / "o.db")
    try:
        for n in range(parse_helper.MAX_FAILURES + 1):
            path = write_simple_report(tmp_path / f"f{n}.csv", 30, start=n * 30)
            assert h.wait_ready(60) == (n < parse_helper.MAX_FAILURES)  # no more helpers after three
            out = ingest_file(box, path, client="c", source="watch", now=T0, report_dir=tmp_path)
            assert (out.status, out.accepted, out.duplicates) == ("accepted", 30, 0)
        assert not h.usable and h.files_read == 0  # stopped three times: not asked again
        assert box.count_items() == 30 * (parse_helper.MAX_FAILURES + 1)
        assert len(snapshot(tmp_path / "o.db")["items"]) == box.count_items()
    finally:
        box.close()
        h.close()
    assert "read in relay's own process from now on" in caplog.text


def one_file(monkeypatch, tmp_path: Path, h: parse_helper.ParseHelper, rows: int):
    """``rows`` rows in one file into a new outbox, with ``h`` as the process's helper."""
    monkeypatch.setattr(parse_helper, "_shared", h)
    box = Outbox(tmp_path / "o.db")
    try:
        return ingest_file(box, write_simple_report(tmp_path / "a.csv", rows), client="c", source="watch", now=T0,
                           report_dir=tmp_path)
    finally:
        box.close()
        h.close()


def test_a_helper_not_ready_yet_leaves_the_file_to_relay_own_thread(monkeypatch, tmp_path):
    silent = [sys.executable, "-c", "import sys; sys.stdin.buffer.read()"]  # never says it is ready
    h = parse_helper.ParseHelper(command=lambda: silent, min_bytes=0)
    h.start()
    out = one_file(monkeypatch, tmp_path, h, 30)
    assert (out.status, out.accepted, h.files_read) == ("accepted", 30, 0) and h.usable


def test_a_very_large_file_waits_for_a_helper_that_is_starting(monkeypatch, tmp_path):
    monkeypatch.setattr(parse_helper, "WAIT_BYTES", 64 * 1024)
    h = parse_helper.ParseHelper(min_bytes=0)  # started by the file, which is large
    out = one_file(monkeypatch, tmp_path, h, 300)
    assert (out.accepted, h.files_read) == (300, 1)


def test_a_helper_that_ends_as_it_starts_is_given_up_after_three(monkeypatch, tmp_path):
    h = parse_helper.ParseHelper(command=lambda: [sys.executable, "-c", "raise SystemExit(1)"], min_bytes=0)
    for _ in range(parse_helper.MAX_FAILURES):
        assert not h.wait_ready(60)
        wait_until(lambda: h._proc is None or h._proc.poll() is not None, timeout=30)
        h.close()
    assert not h.usable


def test_a_helper_that_cannot_start_leaves_reading_to_relay(monkeypatch, tmp_path):
    h = parse_helper.ParseHelper(command=lambda: [str(tmp_path / "no-such-program")], min_bytes=0)
    out = one_file(monkeypatch, tmp_path, h, 30)
    assert (out.status, out.accepted, h.files_read) == ("accepted", 30, 0)


def frames(out: io.BytesIO) -> list[tuple[object, ...]]:
    out.seek(0)
    found = []
    while (frame := parse_helper.read_frame(out)) is not None:
        found.append(frame)
    return found


def key_of(path: Path) -> parse_helper.Key:
    handle, data, identity = probed(path)
    handle.close()
    return (identity, data.file_hash, data.header, data.tracking_column)


def test_a_file_read_ahead_is_served_from_memory_while_it_is_the_same_file(tmp_path):
    path = write_simple_report(tmp_path / "next.csv", 40)
    key = key_of(path)
    out = io.BytesIO()
    served = parse_helper.Helper(out)
    served.handle(("ahead", str(path), path.name, None))
    assert frames(out) == []  # read ahead: nothing said
    path.unlink()  # gone: only the helper's memory can answer now
    served.handle(("read", str(path), path.name, None, key))
    answers = frames(out)
    assert answers[-1][0] == "end" and answers[-1][1] == 40 and answers[-1][4:] == ("ahead",)
    assert sum(len(a[1]) for a in answers if a[0] == "rows") == 40
    out.seek(0), out.truncate()
    served.handle(("read", str(path), path.name, None, key))  # held once only
    assert frames(out)[0][0] == "oserror"


def test_a_file_changed_after_it_was_read_ahead_is_read_afresh(tmp_path):
    path = write_simple_report(tmp_path / "next.csv", 40)
    out = io.BytesIO()
    served = parse_helper.Helper(out)
    served.handle(("ahead", str(path), path.name, None))
    replacement = write_simple_report(tmp_path / "other.csv", 25, seed=9)
    os.replace(replacement, path)  # another file under the same name
    served.handle(("read", str(path), path.name, None, key_of(path)))
    answers = frames(out)
    assert answers[-1][:2] == ("end", 25) and answers[-1][4:] == ()


def test_a_watched_folder_of_large_files_reads_each_next_one_ahead(helper, watched):
    inbox, box, clock, watcher = watched
    for n in range(4):
        write_simple_report(inbox / f"f{n}.csv", 60, start=n * 60)
    assert watcher.tick() == 0  # first sight
    clock.advance(1.5)
    assert watcher.tick() == 4
    assert box.count_items() == 240 and len(list((inbox / "processed").iterdir())) == 4
    assert helper.files_read == 4 and helper.files_read_ahead == 3


def test_the_helper_ends_when_relay_is_killed(tmp_path):
    script = (
        "import sys; from relay.ingest import parse_helper\n"
        "h = parse_helper.shared(); h.start(); print(h._proc.pid, flush=True); sys.stdin.read()\n"
    )
    with subprocess.Popen([sys.executable, "-c", script], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                          cwd=Path(__file__).resolve().parents[3]) as parent:
        try:
            assert parent.stdout is not None
            child = int(parent.stdout.readline())
            assert alive(child)
            parent.send_signal(signal.SIGKILL)
            parent.wait()
            wait_until(lambda: not alive(child), timeout=20)
        finally:
            if parent.poll() is None:
                parent.kill()


def alive(pid: int) -> bool:
    """Running (a zombie left for a reaper counts as ended)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")


def test_a_helper_that_cannot_start_never_stops_relay_starting(tmp_path):
    h = parse_helper.ParseHelper(command=lambda: [str(tmp_path / "no-such-program")])
    h.start()  # as FolderWatcher.start does: no exception, one failure counted
    assert h.pid is None and not h.wait_ready(1)
    h.close()


def test_a_helper_whose_first_words_are_not_ready_is_not_asked(monkeypatch, tmp_path):
    chatty = [sys.executable, "-c", "import sys; print('hello from sitecustomize', flush=True); sys.stdin.read()"]
    h = parse_helper.ParseHelper(command=lambda: chatty, min_bytes=0)
    assert not h.wait_ready(60)  # answered at once: the stray line is not read as a frame to wait for
    wait_until(lambda: h._proc is None or h._proc.poll() is not None, timeout=30)  # and it was ended
    out = one_file(monkeypatch, tmp_path, h, 30)
    assert (out.accepted, h.files_read) == (30, 0)


def test_the_helper_is_let_go_when_storing_a_row_fails(helper, tmp_path):
    from relay.ingest import files
    from relay.ingest.reports import RejectedRowsWriter

    path = write_simple_report(tmp_path / "a.csv", 50)
    handle, data, _ = probed(path)
    added = []

    def add(*row):
        added.append(row)
        if len(added) == 5:
            raise OSError(28, "No space left on device")

    with handle, pytest.raises(OSError) as failure:
        files._add_rows(data, handle, add, RejectedRowsWriter(tmp_path / "r.csv", data.header), None, True)
    assert failure.value.__traceback__ is not None  # the failure is still held, as the watcher holds it
    assert not helper._busy.locked()  # yet the helper is free for the next file
    assert helper.wait_ready(60)  # (a new one: the last was left mid-file)
    out = ingest_file_in(tmp_path, path)
    assert (out.accepted, helper.files_read) == (50, 1)


def ingest_file_in(tmp_path: Path, path: Path):
    box = Outbox(tmp_path / "o.db")
    try:
        return ingest_file(box, path, client="c", source="watch", now=T0, report_dir=tmp_path)
    finally:
        box.close()
