"""Shared fixtures of the ingest tests."""

from __future__ import annotations

import pytest

from relay.clock import FakeClock
from relay.config import from_dict
from relay.ingest.watcher import FolderWatcher
from relay.store.outbox import Outbox


@pytest.fixture
def watched(tmp_path):
    """A watched inbox (settle_s 1) with its outbox, fake clock and FolderWatcher: (inbox, box, clock, watcher)."""
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    cfg = from_dict({"watch": [{"folder": str(inbox), "settle_s": 1}], "store": {"path": str(tmp_path / "o.db")}},
                    None)
    box = Outbox(cfg.store.path)
    clock = FakeClock()
    yield inbox, box, clock, FolderWatcher(cfg.watches[0], box, client="c", clock=clock)
    box.close()
