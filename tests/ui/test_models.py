"""The lazy table model: pages from the store, never every row; refreshes keep the selection."""

from __future__ import annotations

import shutil
import time

import pytest
from PySide6.QtCore import QItemSelectionModel, QModelIndex, Qt

from relay.clock import SystemClock
from relay.store.models import NewItem
from relay.store.outbox import Outbox
from relay.ui.models import ITEM_COLUMNS, PAGE, REFRESH_LIMIT, PagedModel
from relay.ui.reader import DuplicateSource, FileSource, ItemSource, StoreReader
from relay.ui.worker import Worker
from tests.helpers.builders import new_item
from tests.ui.filler import bulk
from tests.ui.support import T0

pytestmark = pytest.mark.gui


@pytest.fixture(scope="module")
def _big(tmp_path_factory):
    path = tmp_path_factory.mktemp("big") / "outbox.db"
    bulk(path, 100_000)
    return path


@pytest.fixture
def big(_big, tmp_path):
    """An outbox of 100,000 pending items (built once, copied per test)."""
    path = tmp_path / "outbox.db"
    shutil.copy(_big, path)
    return path


@pytest.fixture
def worker(qtbot):
    w = Worker()
    yield w
    w.shutdown()


def reader_for(path):
    r = StoreReader(path, (), SystemClock())
    assert r.open()
    return r


def loaded(qtbot, model):
    qtbot.waitUntil(lambda: not model.busy and model.loaded_once, timeout=10_000)


def test_a_hundred_thousand_items_open_one_page_at_a_time(qtbot, worker, big):
    reader = reader_for(big)
    model = PagedModel(worker, ITEM_COLUMNS, time.time)
    calls: list[tuple] = []
    source = ItemSource(reader, ("sending", "pending"))
    real_page = source.page
    source.page = lambda cursor, limit: (calls.append((cursor, limit)), real_page(cursor, limit))[1]
    model.set_source(source)
    loaded(qtbot, model)
    assert model.rowCount() == PAGE
    assert model.canFetchMore(QModelIndex())
    assert model.data(model.index(0, model.column_index("tracking"))) == "T0099999"  # newest first
    model.fetchMore(QModelIndex())
    assert not model.canFetchMore(QModelIndex())  # one read at a time
    loaded(qtbot, model)
    assert model.rowCount() == 2 * PAGE
    assert model.data(model.index(2 * PAGE - 1, model.column_index("tracking"))) == f"T{99999 - 2 * PAGE + 1:07d}"
    assert [limit for _, limit in calls] == [PAGE, PAGE]  # never the whole table
    assert source.total() == 100_000
    reader.close()


def test_states_are_shown_one_after_the_other_and_paging_crosses_them(qtbot, worker, tmp_path):
    path = tmp_path / "outbox.db"
    with Outbox(path) as box:
        box.add_items([new_item(i) for i in range(250)], source="listener", client="c", now=T0)
        batch = box.claim(now=T0 + 1, lease_s=60, owner="s", limit=30,
                          build=__import__("tests.helpers.builders", fromlist=["csv_build"]).csv_build)
        assert batch is not None
    reader = reader_for(path)
    model = PagedModel(worker, ITEM_COLUMNS, time.time)
    model.set_source(ItemSource(reader, ("sending", "pending")))
    loaded(qtbot, model)
    states = [model.row(r).state for r in range(model.rowCount())]
    assert states[:30] == ["sending"] * 30 and set(states[30:]) == {"pending"} and len(states) == PAGE
    model.fetchMore(QModelIndex())
    loaded(qtbot, model)
    assert model.rowCount() == 250 and not model.has_more
    assert len({model.row(r).id for r in range(250)}) == 250
    reader.close()


def test_refresh_applies_changes_and_keeps_the_selection(qtbot, worker, tmp_path):
    from PySide6.QtWidgets import QTableView

    path = tmp_path / "outbox.db"
    box = Outbox(path)
    ids = box.add_items([new_item(i) for i in range(10)], source="listener", client="c", now=T0).ids
    reader = reader_for(path)
    model = PagedModel(worker, ITEM_COLUMNS, time.time)
    view = QTableView()
    qtbot.addWidget(view)
    view.setModel(model)
    model.set_source(ItemSource(reader, ("pending",)))
    loaded(qtbot, model)
    assert [model.row(r).id for r in range(model.rowCount())] == ids[::-1]
    chosen = ids[4]
    row = next(r for r in range(model.rowCount()) if model.row(r).id == chosen)
    view.selectionModel().select(model.index(row, 0), QItemSelectionModel.SelectionFlag.ClearAndSelect
                                 | QItemSelectionModel.SelectionFlag.Rows)
    inserted, removed, resets = [], [], []
    model.rowsInserted.connect(lambda *a: inserted.append(a[1:]))
    model.rowsRemoved.connect(lambda *a: removed.append(a[1:]))
    model.modelReset.connect(lambda: resets.append(1))

    new = box.add_items([new_item(i) for i in range(10, 13)], source="listener", client="c", now=T0 + 5).ids
    box.db.conn.execute("UPDATE items SET state = 'failed', last_error = 'bad' WHERE id IN (?, ?)",
                        (ids[0], ids[7]))
    box.db.conn.execute("UPDATE items SET attempts = 3 WHERE id = ?", (chosen,))
    model.refresh()
    loaded(qtbot, model)
    assert [model.row(r).id for r in range(model.rowCount())] == [i for i in sorted(new + ids, reverse=True)
                                                                   if i not in (ids[0], ids[7])]
    assert resets == [] and inserted == [(0, 2)] and sorted(removed) == [(2, 2), (9, 9)]
    (sel,) = view.selectionModel().selectedRows()
    assert model.row(sel.row()).id == chosen  # the same item is still selected
    assert model.data(model.index(sel.row(), model.column_index("attempts"))) == "3"  # and shows its news
    box.close()
    reader.close()


def test_a_view_with_many_rows_loaded_is_marked_stale_instead_of_reread(qtbot, worker, big):
    reader = reader_for(big)
    model = PagedModel(worker, ITEM_COLUMNS, time.time)
    model.set_source(ItemSource(reader, ("pending",)))
    loaded(qtbot, model)
    while model.rowCount() <= REFRESH_LIMIT:
        model.fetchMore(QModelIndex())
        loaded(qtbot, model)
    model.refresh()
    assert model.stale and not model.busy
    model.reload()
    loaded(qtbot, model)
    assert model.rowCount() == PAGE and not model.stale
    reader.close()


def test_search_by_tracking_id_and_file_name(qtbot, worker, big):
    reader = reader_for(big)
    model = PagedModel(worker, ITEM_COLUMNS, time.time)
    model.set_source(ItemSource(reader, ("pending",), search="T0001234"))
    loaded(qtbot, model)
    assert [model.row(r).tracking_id for r in range(model.rowCount())] == ["T0001234"]
    model.set_source(ItemSource(reader, ("pending",), search="bulk_0002"))
    loaded(qtbot, model)
    assert model.rowCount() == PAGE and model.has_more
    assert {model.row(r).source_name for r in range(model.rowCount())} == {"bulk_0002.csv"}
    assert ItemSource(reader, ("pending",), search="bulk_0002").total() == 1000
    model.set_source(ItemSource(reader, ("pending",), search="no such thing"))
    loaded(qtbot, model)
    assert model.rowCount() == 0 and not model.has_more
    reader.close()


def test_duplicates_and_files_sources(qtbot, worker, lab):
    reader = reader_for(lab.config.store.path)
    dups = DuplicateSource(reader).page((0, 0), 500)
    assert len(dups.rows) == lab.filled.duplicates and not dups.more
    assert all(d["original_item_id"] for d in dups.rows)
    files = FileSource(reader).page((0, 0), 500)
    assert len(files.rows) == lab.filled.files + lab.filled.rejected_files
    assert {f.outcome for f in files.rows} == {"accepted", "rejected"}
    only = FileSource(reader, "notes").page((0, 0), 500).rows
    assert [f.name for f in only] == ["notes.csv"] and only[0].reason
    assert DuplicateSource.searchable is False
    reader.close()


def test_reader_waits_for_an_outbox_that_does_not_exist_yet(tmp_path):
    reader = StoreReader(tmp_path / "later.db", (), SystemClock())
    assert not reader.open()
    Outbox(tmp_path / "later.db").close()
    assert reader.open() and reader.stats()["pending"] == 0
    reader.close()


def test_cells_say_things_in_words(qtbot, worker, lab):
    reader = reader_for(lab.config.store.path)
    model = PagedModel(worker, ITEM_COLUMNS, lambda: T0)
    model.set_source(ItemSource(reader, ("failed",)))
    loaded(qtbot, model)
    row = model.row(0)
    assert row.payload is None  # the list holds no result content; the detail pane reads it by id
    col = {c.key: i for i, c in enumerate(ITEM_COLUMNS)}
    text = lambda key: model.data(model.index(0, col[key]))  # noqa: E731
    assert text("source") == f"{row.source_name}, line {row.line}"
    assert text("reason") == row.last_error[0].upper() + row.last_error[1:]
    assert model.data(model.index(0, col["reason"]), Qt.ItemDataRole.ToolTipRole).startswith(
        "Rejected by the intake: ")
    assert text("state") == "Failed"
    assert model.data(model.index(0, col["state"]), Qt.ItemDataRole.DecorationRole) is not None
    assert model.data(model.index(0, col["received"]), Qt.ItemDataRole.ToolTipRole).endswith("+00:00")
    assert model.headerData(col["attempts"], Qt.Orientation.Horizontal) == "Attempts"
    reader.close()
