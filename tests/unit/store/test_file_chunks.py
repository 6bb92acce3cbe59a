"""A file's rows written in chunks, each chunk by a helper thread while the next one is read.

The chunk and statement sizes are made small here so that every path is crossed with few rows:
whole multi-row statements, the remainder written row by row, duplicates inside one chunk and
across chunks, and failures in the helper thread or in the reading thread while a write runs.
"""

from __future__ import annotations

import threading

import pytest

import relay.store.file_tx as file_tx
from relay.errors import OutboxFull
from relay.hashing import encode_values
from relay.store.outbox import Outbox
from tests.helpers.builders import COLUMNS

T0 = 1_767_225_600.0


@pytest.fixture(autouse=True)
def small_chunks(monkeypatch):
    monkeypatch.setattr(file_tx, "CHUNK", 10)
    monkeypatch.setattr(file_tx, "ROWS_PER_STATEMENT", 3)


def transaction(box, name="f.csv", file_hash="h"):
    return box.file_transaction(name=name, path=None, file_hash=file_hash, size=1, source="watch", client="c",
                                columns=COLUMNS, now=T0)


def payload(key):
    return encode_values([f"id{key}", f"name{key}", "x"])


def test_rows_across_chunks_keep_order_lines_and_duplicates(box):
    # 47 rows: four whole chunks and a last one of 7; each chunk is three statements of 3 rows and a
    # single row. Row 2k+1 repeats row 2k-1 of a chunk before it, row 5 repeats row 4 in its chunk.
    keys = []
    for n in range(47):
        keys.append(n - 10 if n >= 12 and n % 2 else (4 if n == 5 else n))
    with transaction(box) as tx:
        for line, key in enumerate(keys, start=2):
            tx.add(line, payload(key), f"id{key}", f"hash-{key}")
    unique = list(dict.fromkeys(keys))
    assert (tx.accepted, tx.duplicates) == (len(unique), len(keys) - len(unique))
    rows = box.db.conn.execute("SELECT id, line, content_hash, payload FROM items JOIN payloads ON item_id = id ORDER BY id").fetchall()
    first_line = {}
    for line, key in enumerate(keys, start=2):
        first_line.setdefault(key, line)
    assert [(r[1], r[2], r[3]) for r in rows] == [(first_line[k], f"hash-{k}", payload(k)) for k in unique]
    assert box.count_items() == len(rows)  # every item has its payload
    id_of = {r[2]: r[0] for r in rows}
    dups = box.db.conn.execute("SELECT line, content_hash, original_item_id FROM duplicates ORDER BY line").fetchall()
    expected = [(line, f"hash-{k}", id_of[f"hash-{k}"]) for line, k in enumerate(keys, start=2)
                if line != first_line[k]]
    assert dups == expected
    rec = box.known_file("h", "f.csv")
    assert (rec.rows_accepted, rec.rows_duplicate) == (tx.accepted, tx.duplicates)


def test_a_write_that_fails_in_the_helper_thread_rolls_back_the_whole_file(box):
    with transaction(box, name="first.csv", file_hash="h1") as tx:
        tx.add(2, payload(0), "id0", "hash-0")
    before = box.db.conn.execute("PRAGMA page_count").fetchone()[0]
    box.db.conn.execute(f"PRAGMA max_page_count = {before + 2}")
    big = encode_values(["x" * 3000, "y", "z"])
    with pytest.raises(OutboxFull):
        with transaction(box, name="big.csv", file_hash="h2") as tx:
            for n in range(1, 200):
                tx.add(n + 1, big + str(n), None, f"big-{n}")
    assert box.count_items() == 1 and box.known_file("h2", "big.csv") is None
    box.db.conn.execute("PRAGMA max_page_count = 1073741823")
    with transaction(box, name="after.csv", file_hash="h3") as tx:  # the outbox goes on working
        tx.add(2, payload(1), "id1", "hash-1")
    assert box.count_items() == 2


def test_an_error_while_a_chunk_is_being_written_waits_for_it_then_rolls_back(box, monkeypatch):
    started, release = threading.Event(), threading.Event()
    insert, abandon = file_tx.insert_items, file_tx.ChunkWriter.abandon

    def slow_insert(conn, rows, payloads):
        started.set()
        assert release.wait(10)
        insert(conn, rows, payloads)

    def abandon_once_released(self):  # the chunk is still being written when the rollback comes
        release.set()
        return abandon(self)

    monkeypatch.setattr(file_tx, "insert_items", slow_insert)
    monkeypatch.setattr(file_tx.ChunkWriter, "abandon", abandon_once_released)
    with pytest.raises(RuntimeError, match="reader broke"):
        with transaction(box) as tx:
            for n in range(10):  # one whole chunk: handed to the helper thread
                tx.add(n + 2, payload(n), None, f"hash-{n}")
            assert started.wait(10)
            raise RuntimeError("reader broke")
    assert not [t for t in threading.enumerate() if t.name == "relay-chunk-writer"]
    assert box.count_items() == 0 and box.known_file("h", "f.csv") is None
    assert not box.db.conn.in_transaction


def test_a_file_smaller_than_a_chunk_is_written_without_a_helper_thread(box, monkeypatch):
    def no_thread(*args, **kwargs):
        raise AssertionError("a small file needs no helper thread")

    monkeypatch.setattr(file_tx.ChunkWriter, "start", no_thread)
    with transaction(box) as tx:
        for n in range(9):
            tx.add(n + 2, payload(n), None, f"hash-{n}")
    assert box.count_items() == 9


def test_waiting_for_a_write_goes_on_through_an_interruption_which_is_handed_back():
    release, done = threading.Event(), []
    writer = file_tx.ChunkWriter()
    writer.start(lambda: (release.wait(10), done.append(1)))
    thread = writer._thread
    real_join, calls = thread.join, []

    def join(*args, **kwargs):  # a second Ctrl-C arrives while the rollback waits for the write
        calls.append(1)
        if len(calls) == 1:
            release.set()
            raise KeyboardInterrupt
        return real_join(*args, **kwargs)

    thread.join = join
    late = writer.abandon()
    assert isinstance(late, KeyboardInterrupt) and done == [1] and not thread.is_alive() and len(calls) == 2


def test_large_rows_are_written_in_smaller_chunks_so_memory_stays_bounded(box, monkeypatch):
    monkeypatch.setattr(file_tx, "CHUNK_CHARS", 10_000)
    starts = []
    real_start = file_tx.ChunkWriter.start
    monkeypatch.setattr(file_tx.ChunkWriter, "start", lambda self, write: (starts.append(1), real_start(self, write)))
    big = encode_values(["x" * 3000, "y", "z"])  # about 3 KB a row: four rows make a chunk, not ten
    with transaction(box) as tx:
        for n in range(9):
            tx.add(n + 2, big + str(n), None, f"big-{n}")
    assert len(starts) == 2 and box.count_items() == 9


def test_a_file_smaller_than_a_chunk_is_read_with_the_outbox_free_then_written_in_one_short_transaction(box):
    with transaction(box) as tx:
        for n in range(9):
            tx.add(n + 2, payload(n), None, f"hash-{n}")
        # Another thread writes while the file is read: it does not wait for the file.
        done = threading.Event()
        threading.Thread(target=lambda: (box.set_control({"probe": "1"}), done.set())).start()
        assert done.wait(10), "a write waited for a file that was still being read"
        assert box.db.conn.execute("SELECT count(*) FROM items").fetchone()[0] == 0
    assert tx.accepted == 9 and box.count_items() == 9 and box.get_control("probe") == "1"


def test_a_larger_file_begins_its_transaction_with_its_first_chunk_and_streams_the_rest(box):
    with transaction(box) as tx:
        for n in range(9):
            tx.add(n + 2, payload(n), None, f"hash-{n}")
        assert tx._conn is None  # the first chunk is still being read: nothing begun, nothing held
        for n in range(9, 40):
            tx.add(n + 2, payload(n), None, f"hash-{n}")
        assert tx._conn is not None  # begun: the rest streams in chunks inside it
    assert tx.accepted == 40 and box.count_items() == 40


def test_a_file_taken_by_another_run_while_it_was_read_adds_nothing(box, tmp_path):
    with transaction(box) as tx:
        assert tx.already_known is None
        for n in range(5):
            tx.add(n + 2, payload(n), None, f"hash-{n}")
        with Outbox(tmp_path / "outbox.db") as other:  # e.g. `relay ingest` of the same file, meanwhile
            with transaction(other) as first:
                for n in range(5):
                    first.add(n + 2, payload(n), None, f"hash-{n}")
        tx.add(7, payload(5), None, "hash-5")
    assert tx.accepted == 0 and tx.already_known is not None and tx.file_id == first.file_id
    assert box.count_items() == 5 and len(box.list_files()) == 1
