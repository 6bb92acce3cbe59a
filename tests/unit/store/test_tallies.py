"""The outbox's running totals: counts by state (cheap form, same answer), intake requests, agent id."""

from __future__ import annotations

import pytest

from relay.store.held import STATE_OF_ITEM
from relay.store.outbox import Outbox
from relay.store.tallies import REQUEST_OUTCOMES, state_counts
from relay.status import snapshot
from tests.helpers.builders import csv_build, new_item

T0 = 1_767_225_600.0


def test_state_counts_agree_with_a_plain_group_by(tmp_path):
    with Outbox(tmp_path / "o.db") as box:
        box.add_items([new_item(n) for n in range(30)], source="t", client="c", now=T0)
        batch = box.claim(now=T0, lease_s=60, owner="me", limit=10, build=csv_build)
        box.complete(batch.id, owner="me", receipt="r", status=201, now=T0)
        batch = box.claim(now=T0, lease_s=60, owner="me", limit=5, build=csv_build)
        box.fail_batch(batch.id, owner="me", reason="bad", status=422, now=T0)
        box.claim(now=T0, lease_s=60, owner="me", limit=3, build=csv_build)
        plain = dict(box.db.conn.execute(f"SELECT {STATE_OF_ITEM} AS s, count(*) FROM items GROUP BY s").fetchall())
        counts = state_counts(box.db.conn)
    assert counts == {"pending": 12, "sending": 3, "sent": 10, "failed": 5, "dead": 0, "discarded": 0}
    assert {k: v for k, v in counts.items() if v} == plain


def test_intake_requests_are_counted_by_outcome_and_shown_in_the_status(tmp_path):
    with Outbox(tmp_path / "o.db") as box:
        assert snapshot(box, (), T0)["intake_requests"] == dict.fromkeys(REQUEST_OUTCOMES, 0)
        for outcome in ("delivered", "delivered", "error", "unavailable"):
            box.count_intake_request(outcome)
        with pytest.raises(ValueError, match="unknown request outcome"):
            box.count_intake_request("weird")
    with Outbox(tmp_path / "o.db", readonly=True, check=False) as other:  # another process's view
        counts = snapshot(other, (), T0)["intake_requests"]
    assert counts == {"delivered": 2, "rejected": 0, "unavailable": 1, "refused": 0, "error": 1}


def test_the_agent_id_is_made_once_and_kept(tmp_path):
    with Outbox(tmp_path / "o.db") as box:
        first = box.agent_id()
        assert box.agent_id() == first
    with Outbox(tmp_path / "o.db") as box:
        assert box.agent_id() == first and len(first) == 36


def test_cached_counts_follow_every_commit_of_this_and_other_connections(tmp_path):
    with Outbox(tmp_path / "o.db") as box, Outbox(tmp_path / "o.db", readonly=True, check=False) as reader:
        assert reader.counts().by_state["pending"] == 0
        box.add_items([new_item(1), new_item(2)], source="t", client="c", now=T0)
        assert box.counts().by_state["pending"] == 2
        assert reader.counts().by_state["pending"] == 2  # another connection's commit
        assert reader.counts().by_state["pending"] == 2  # unchanged: served from the cache
        batch = box.claim(now=T0, lease_s=60, owner="me", limit=5, build=csv_build)
        assert box.counts().by_state == {**dict.fromkeys(box.counts().by_state, 0), "sending": 2}
        box.complete(batch.id, owner="me", receipt="r", status=201, now=T0)
        assert box.counts().by_state["sent"] == 2 and reader.counts().by_state["sent"] == 2
