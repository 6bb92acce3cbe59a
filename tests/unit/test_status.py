"""The Status value (relay/status.py): typed, and its JSON is INTERFACE §1's object key for key."""

from __future__ import annotations

import json

from relay.config import HealthConfig
from relay.events import SenderState
from relay.status import Status, read_status, snapshot
from relay.store.control import PAUSED_BY, PAUSED_REASON, PROBLEMS, UNAVAILABLE_UNTIL
from relay.store.outbox import Outbox
from relay.store.query_view import QueryView
from tests.helpers.builders import new_item

T0 = 1_767_225_600.0

KEYS = ["pending", "sending", "sent", "failed", "dead", "discarded", "duplicates", "files_processed",
        "files_rejected", "paused", "paused_by", "paused_reason", "maintenance_until", "in_maintenance_window",
        "intake_unavailable_until", "oldest_pending_at", "last_success_at", "problems", "intake_requests",
        "ignored_files", "now"]


def test_the_json_keeps_its_keys_in_order_and_its_values(tmp_path):
    with Outbox(tmp_path / "o.db") as box:
        box.add_items([new_item(1), new_item(1)], source="listener", client="c", now=T0)
        box.set_control({PAUSED_BY: "intake", PAUSED_REASON: "token refused", PROBLEMS: json.dumps(["disk"]),
                         UNAVAILABLE_UNTIL: repr(T0 + 60)})
        status = read_status(box, (), T0 + 10)
        assert isinstance(status, Status)
        assert status.count("pending") == 1 and status.duplicates == 1
        assert status.paused and status.paused_by == "intake" and status.problems == ("disk",)
        assert status.maintenance_until == status.intake_unavailable_until == T0 + 60
        out = status.to_json()
        assert list(out) == KEYS
        assert out["paused"] is True and out["paused_reason"] == "token refused"
        assert out["oldest_pending_at"] == "2026-01-01T00:00:00+00:00"
        assert out["intake_unavailable_until"] == "2026-01-01T00:01:00+00:00"
        assert snapshot(box, (), T0 + 10) == out
        json.dumps(out)  # plain JSON


def test_an_agents_status_carries_its_problems_sender_and_health(tmp_path):
    with Outbox(tmp_path / "o.db") as box:
        status = read_status(box, (), T0).with_agent(["no keyring"], SenderState("waiting", "503", T0 + 5))
        assert status.healthy is None and "healthy" not in status.to_json()
        status = status.assessed(tmp_path / "o.db", HealthConfig(), T0)
    out = status.to_json()
    assert out["problems"] == ["no keyring"]
    assert out["sender"] == {"state": "waiting", "reason": "503", "until": T0 + 5}
    assert list(out) == [*KEYS, "sender", "disk_free_bytes", "outbox_bytes", "healthy", "unhealthy_reasons"]
    assert status.healthy is False and out["unhealthy_reasons"] == ["no keyring"]
    assert out["outbox_bytes"] > 0


def test_the_window_reads_the_same_status_through_the_queries_only(tmp_path):
    with Outbox(tmp_path / "o.db") as box:
        box.add_items([new_item(1)], source="listener", client="c", now=T0)
        expected = read_status(box, (), T0)
        with QueryView(tmp_path / "o.db") as view:
            assert read_status(view, (), T0) == expected
