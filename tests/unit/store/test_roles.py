"""The outbox's roles (relay/store/roles.py): the outbox plays each; the read-only view plays the
queries and nothing else, on a connection that cannot write."""

from __future__ import annotations

import sqlite3

import pytest

from relay.errors import EnvironmentProblem
from relay.store import roles
from relay.store.outbox import Outbox
from relay.store.query_view import QueryView
from relay.store.roles import ROLES, BatchLedger, ControlValues, ItemSink, OutboxQueries, PersonActions
from tests.helpers.builders import csv_build, new_item

T0 = 1_767_225_600.0


def members(role: type) -> set[str]:
    return {n for n in vars(role) if not n.startswith("_") and callable(getattr(role, n))}


@pytest.mark.parametrize("role", ROLES, ids=lambda r: r.__name__)
def test_the_outbox_plays_every_role(box, role):
    assert isinstance(box, role)
    assert members(role) <= set(dir(Outbox))


def test_the_roles_together_are_small_and_named_once():
    every = [m for role in ROLES for m in members(role)]
    assert len(every) <= 60
    assert members(ItemSink).isdisjoint(members(BatchLedger) | members(OutboxQueries))
    assert "set_control" not in members(OutboxQueries) and "add_items" not in members(BatchLedger)


def test_the_query_view_has_the_queries_and_no_write(box):
    ids = box.add_items([new_item(1), new_item(2)], source="listener", client="c", now=T0).ids
    batch = box.claim(now=T0 + 1, lease_s=60, owner="s", limit=1, build=csv_build)
    assert batch is not None
    with QueryView(box.path) as view:
        assert isinstance(view, OutboxQueries)
        for role in (ItemSink, BatchLedger, PersonActions, ControlValues):
            assert not isinstance(view, role), role.__name__
        assert view.counts().by_state["sending"] == 1
        assert [i.id for i in view.list_items(state="pending")] == [ids[1]]
        assert view.get_item(ids[0]).columns == new_item(1).columns
        assert view.schema_version() == box.schema_version()
        # Not only without write methods: the connection itself refuses to write.
        with pytest.raises(sqlite3.OperationalError, match="readonly"):
            view.db.conn.execute("DELETE FROM items")


def test_a_query_view_of_no_outbox_is_a_plain_problem(tmp_path):
    with pytest.raises(EnvironmentProblem):
        QueryView(tmp_path / "none.db")
    assert not (tmp_path / "none.db").exists()  # reading creates nothing


def test_roles_say_who_takes_them():
    doc = roles.__doc__ or ""
    for caller in ("sources", "sender", "person actions", "window's reader"):
        assert caller in doc
