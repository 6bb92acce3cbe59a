"""What the window reads, on a database connection of its own.

The window's questions (pages of a million rows, searches that scan, the status counts) run on a
read-only connection to the outbox, so they never hold the agent's connection while it writes,
and the window can show the queue while the agent is still starting (its integrity check of a
large outbox takes seconds). The queries are the store's own (``relay.store.queries``). Called
from the worker's threads (the connection is serialised by the store's lock).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Protocol

from relay.clock import Clock
from relay.config import HealthConfig, MaintenanceWindow, WatchConfig
from relay.errors import EnvironmentProblem
from relay.health import assess
from relay.status import snapshot
from relay.store.models import FileRecord, Item
from relay.store.outbox import Outbox
from relay.store.queries import HistoryEntry
from relay.store.schema import MIGRATIONS
from relay.ui.file_reports import attention_text, ignored_rows, unseen, with_reasons

log = logging.getLogger("relay.ui")

Cursor = tuple[int, int]  # (segment, offset within it)
UNSEEN_DEPTH = 1000
UNSEEN_PAGE = 50


@dataclass(frozen=True)
class Page:
    rows: list[Any]
    cursor: Cursor
    more: bool


class Source(Protocol):
    """One view's rows, newest first, a page at a time."""

    searchable: bool

    def page(self, cursor: Cursor, limit: int) -> Page: ...

    def key(self, row: Any) -> object: ...

    def total(self) -> int | None: ...


class StoreReader:
    def __init__(self, path: Path, windows: Sequence[MaintenanceWindow], clock: Clock,
                 health: HealthConfig | None = None) -> None:
        self.path = path
        self.windows = tuple(windows)
        self.clock = clock
        self.files_seen_up_to = 0  # the newest ledger id a person has seen in the Files view
        self.health = health or HealthConfig()
        self._box: Outbox | None = None

    def open(self) -> bool:
        """Open the read connection; False when the outbox is not there yet or is an older schema
        (the agent creates or migrates it first; call again once it has started)."""
        if self._box is not None:
            return True
        if not self.path.exists():
            return False
        try:
            box = Outbox(self.path, readonly=True, check=False)
        except EnvironmentProblem as exc:
            log.info("window reads wait for the agent: %s", exc)
            return False
        version = box.db.conn.execute("PRAGMA user_version").fetchone()[0]
        if version != MIGRATIONS[-1][0]:
            box.close()
            return False
        self._box = box
        return True

    @property
    def box(self) -> Outbox:
        if self._box is None and not self.open():
            raise EnvironmentProblem(f"the outbox at {self.path} cannot be read yet")
        assert self._box is not None
        return self._box

    def close(self) -> None:
        if self._box is not None:
            self._box.close()
            self._box = None

    # -- status -------------------------------------------------------------------------------

    def stats(self) -> dict[str, Any]:
        now = self.clock.now()
        snap = assess(snapshot(self.box, self.windows, now), self.path, self.health, now)
        files, newest = self._unseen_files()
        snap["files_attention"] = attention_text(files) if files else None
        snap["files_newest_id"] = newest
        if snap.get("failed"):  # what the intake said of the newest rejected result, for the notice
            newest_failed = self.box.list_items(state="failed", limit=1)
            snap["failed_reason"] = newest_failed[0].last_error if newest_failed else None
        return snap

    def _unseen_files(self, depth: int = UNSEEN_DEPTH) -> tuple[list[FileRecord], int]:
        """Files with rejections newer than the mark a person set by looking (newest first; only
        the newest ``depth`` files are looked at, so a long unwatched ledger costs little)."""
        mark = self.files_seen_up_to
        found: list[FileRecord] = []
        newest = mark
        offset = 0
        while offset < depth:
            page = self.box.list_files(limit=UNSEEN_PAGE, offset=offset)
            more, page_newest = unseen(page, mark)
            found += more
            newest = max(newest, page_newest)
            if len(page) < UNSEEN_PAGE or page[-1].id <= mark:
                break
            offset += len(page)
        return found, newest

    # -- single rows ----------------------------------------------------------------------------

    def item(self, item_id: int) -> Item | None:
        return self.box.get_item(item_id)

    def history(self, item_id: int) -> list[HistoryEntry]:
        return self.box.history(item_id)

    def wire(self, item_id: int) -> str | None:
        """The message sent in the item's place (a CSV row translated to HL7), if any."""
        return self.box.item_wire(item_id)

    def items_by_id(self, ids: Sequence[int]) -> list[Item]:
        found = [self.box.get_item(i) for i in ids]
        return [i for i in found if i is not None]


class ItemSource:
    """Items in one or more states, newest first within each state, the states one after the
    other (the Pending view shows the batch being sent, then everything waiting)."""

    searchable = True

    def __init__(self, reader: StoreReader, states: Sequence[str | None], search: str | None = None) -> None:
        self.reader = reader
        self.states = tuple(states)
        self.search = search or None

    def key(self, row: Item) -> object:
        return (row.state, row.id)

    def page(self, cursor: Cursor, limit: int) -> Page:
        segment, offset = cursor
        rows: list[Item] = []
        while segment < len(self.states) and len(rows) < limit:
            want = limit - len(rows)
            got = self.reader.box.list_items(state=self.states[segment], limit=want, offset=offset,
                                             search=self.search)
            # The list holds no result content: the detail pane and exports read it by id.
            rows += [replace(item, payload=None) for item in got]
            if len(got) < want:
                segment, offset = segment + 1, 0
            else:
                offset += len(got)
        return Page(rows, (segment, offset), segment < len(self.states))

    def total(self) -> int | None:
        return sum(self.reader.box.count_items(state=s, search=self.search) for s in self.states)


class DuplicateSource:
    searchable = False  # the store has no search over the duplicate log

    def __init__(self, reader: StoreReader) -> None:
        self.reader = reader

    def key(self, row: dict[str, Any]) -> object:
        return row["id"]

    def page(self, cursor: Cursor, limit: int) -> Page:
        rows = self.reader.box.list_duplicates(limit=limit, offset=cursor[1])
        return Page(rows, (0, cursor[1] + len(rows)), len(rows) == limit)

    def total(self) -> int | None:
        return int(self.reader.stats()["duplicates"])


class FileSource:
    """The file ledger, newest first, each with why its rows were rejected; the files the watcher
    ignored (when the agent reports them) come first."""

    searchable = True

    def __init__(self, reader: StoreReader, search: str | None = None,
                 watches: Sequence[WatchConfig] = ()) -> None:
        self.reader = reader
        self.search = search or None
        self.watches = tuple(watches)

    def key(self, row: FileRecord) -> object:
        return row.id

    def page(self, cursor: Cursor, limit: int) -> Page:
        found = self.reader.box.list_files(limit=limit, offset=cursor[1], search=self.search)
        rows: list[FileRecord] = [with_reasons(f, self.watches) for f in found]
        if cursor[1] == 0:
            rows = [*ignored_rows(self.reader.stats(), self.search), *rows]
        return Page(rows, (0, cursor[1] + len(found)), len(found) == limit)

    def total(self) -> int | None:
        if self.search:
            return None  # the store counts files only as a whole
        s = self.reader.stats()
        return int(s["files_processed"]) + int(s["files_rejected"]) + len(ignored_rows(s))
