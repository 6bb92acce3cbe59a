"""The outbox the store's unit tests share: a fresh one in the test's own folder."""

from __future__ import annotations

import pytest

from relay.store.outbox import Outbox


@pytest.fixture
def outbox(tmp_path):
    with Outbox(tmp_path / "outbox.db") as box:
        yield box


@pytest.fixture
def box(outbox):
    """The same outbox, by the shorter name some modules use."""
    return outbox
