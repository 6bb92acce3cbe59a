"""The agent facade: lifecycle, one instance per outbox, a damaged outbox kept aside, person actions."""

from __future__ import annotations

import pytest

from relay.agent import Agent
from relay.config import from_dict
from relay.errors import EnvironmentProblem
from relay.events import Paused, Resumed
from tests.helpers.builders import new_item


def config(tmp_path, **extra):
    return from_dict({"store": {"path": str(tmp_path / "outbox.db")}, "listener": {"enabled": False}, **extra}, None)


def test_second_agent_on_the_same_outbox_is_refused(tmp_path):
    with Agent(config(tmp_path)):
        with pytest.raises(EnvironmentProblem, match="already running"):
            Agent(config(tmp_path)).start()
    with Agent(config(tmp_path)) as again:  # released on stop
        assert again.stats()["pending"] == 0


def test_damaged_outbox_is_kept_aside_and_reported(tmp_path):
    (tmp_path / "outbox.db").write_bytes(b"garbage, not a database " * 200)
    with Agent(config(tmp_path)) as agent:
        snap = agent.stats()
        aside = [p for p in tmp_path.iterdir() if ".damaged-" in p.name]
        assert len(aside) == 1 and aside[0].read_bytes().startswith(b"garbage")
        assert any("damaged" in p and str(aside[0]) in p for p in snap["problems"])
        agent.box.add_items([new_item(1)], source="listener", client="c", now=agent.clock.now())
        assert agent.stats()["pending"] == 1


def test_pause_resume_send_now_are_audited_and_announced(tmp_path):
    with Agent(config(tmp_path)) as agent:
        events = []
        agent.events.subscribe(events.append)
        agent.pause("lab closed for the holiday")
        snap = agent.stats()
        assert snap["paused"] and snap["paused_reason"] == "lab closed for the holiday"
        agent.resume()
        agent.send_now()
        assert not agent.stats()["paused"]
        assert [type(e) for e in events if isinstance(e, (Paused, Resumed))] == [Paused, Resumed]
        actions = [r[0] for r in agent.box.db.conn.execute("SELECT action FROM audit ORDER BY id")]
        assert actions == ["pause", "resume", "send now"]


def test_person_pause_survives_restart(tmp_path):
    with Agent(config(tmp_path)) as agent:
        agent.pause()
    with Agent(config(tmp_path)) as agent:
        assert agent.stats()["paused"] is True


def test_unwritable_outbox_location_is_a_clear_error(tmp_path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where a folder should be")
    agent = Agent(from_dict({"store": {"path": str(blocker / "outbox.db")}, "listener": {"enabled": False}}, None))
    with pytest.raises(EnvironmentProblem, match="outbox"):
        agent.start()


def test_listener_port_taken_is_a_problem_not_a_failed_start(tmp_path):
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        cfg = from_dict({"store": {"path": str(tmp_path / "outbox.db")},
                         "listener": {"enabled": True, "port": port}}, None)
        with Agent(cfg) as agent:
            assert agent.listener is None
            assert any(str(port) in p or "port" in p for p in agent.stats()["problems"])


def test_integrity_check_runs_only_after_an_unclean_stop(tmp_path, monkeypatch):
    from relay.store.db import Database

    calls = []
    original = Database.integrity_check
    monkeypatch.setattr(Database, "integrity_check", lambda self: (calls.append(1), original(self))[1])
    with Agent(config(tmp_path)):
        pass
    assert len(calls) == 1  # a new outbox is checked
    with Agent(config(tmp_path)):
        pass
    assert len(calls) == 1  # the last stop was clean: skipped
    agent = Agent(config(tmp_path))
    agent.start()
    agent.outbox.close()  # as if the process died: no clean stop noted
    agent.outbox = None
    agent.stop()
    with Agent(config(tmp_path)):
        pass
    assert len(calls) == 2


def test_discard_sets_failed_items_aside_announces_it_and_retry_takes_them_back(tmp_path):
    from relay.events import CountsChanged
    from tests.helpers.builders import csv_build

    with Agent(config(tmp_path)) as agent:
        now = agent.clock.now()
        ids = agent.box.add_items([new_item(1), new_item(2)], source="listener", client="c", now=now).ids
        batch = agent.box.claim(now=now, lease_s=60, owner="test", limit=10, build=csv_build)
        agent.box.fail_batch(batch.id, owner="test", reason="bad code", status=400, now=now)
        events = []
        agent.events.subscribe(events.append)
        assert agent.discard([ids[0]], reason="test record") == [ids[0]]
        assert any(isinstance(e, CountsChanged) for e in events)
        snap = agent.stats()
        assert (snap["discarded"], snap["failed"]) == (1, 1)
        assert agent.retry([ids[0]]) == [ids[0]]
        assert agent.stats()["discarded"] == 0
