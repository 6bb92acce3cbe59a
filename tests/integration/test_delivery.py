"""The agent drains the outbox into the real receiving stub on loopback, exactly once, through
injected failures, lost replies, dropped connections and a maintenance window."""

from __future__ import annotations


import pytest

from relay.agent import Agent
from relay.config import from_dict
from relay.samples import write_simple_report
from tests.helpers.stub_server import stub_server
from tests.helpers.waiting import wait_until

TOKEN = "test-token-0123456789"


def make_config(tmp_path, url, **extra):
    raw = {
        "intake": {"url": url, "batch_max_items": 100, "timeout_s": 5},
        "store": {"path": str(tmp_path / "outbox.db")},
        "listener": {"enabled": False},
        "delivery": {"retry_initial_s": 0.05, "retry_max_s": 0.5},
        **extra,
    }
    return from_dict(raw, None)




def fill(agent, tmp_path, files=6, rows=500):
    from relay.ingest.files import ingest_file

    for i in range(files):
        path = write_simple_report(tmp_path / f"batch{i}.csv", rows, seed=1000 + i)
        ingest_file(agent.box, path, client="simple_report.default", source="test", now=agent.clock.now(),
                    report_dir=tmp_path)
    agent.new_work()
    return files * rows


@pytest.mark.slow
def test_thousands_delivered_exactly_once_through_faults(tmp_path):
    with stub_server(token=TOKEN, fail_rate=0.3, drop_rate=0.05, latency_ms=5, seed=11) as stub:
        agent = Agent(make_config(tmp_path, stub.url), token=lambda: TOKEN)
        agent.start()
        try:
            total = fill(agent, tmp_path)
            wait_until(lambda: agent.stats()["sent"] == total, timeout=120)
        finally:
            agent.stop()
        stats = stub.stats()
    assert stats["unique_items"] == total
    assert stats["accepted_items"] == total, "an item was stored twice"
    assert stats["duplicates_received"] == 0
    assert stats["requests"] > total / 100  # faults forced retries


@pytest.mark.slow
def test_maintenance_window_costs_one_or_two_requests(tmp_path):
    with stub_server(token=TOKEN) as stub:
        agent = Agent(make_config(tmp_path, stub.url), token=lambda: TOKEN)
        agent.start()
        try:
            stub.set_maintenance(3)
            before = stub.stats()["requests"]
            total = fill(agent, tmp_path, files=2, rows=50)
            wait_until(lambda: agent.stats()["maintenance_until"] is not None)
            during = stub.stats()["requests"] - before
            wait_until(lambda: agent.stats()["sent"] == total, timeout=30)
        finally:
            agent.stop()
        stats = stub.stats()
    assert during <= 2
    assert stats["unique_items"] == total and stats["duplicates_received"] == 0


@pytest.mark.slow
def test_credentials_rejected_pauses_then_new_credential_resumes(tmp_path):
    token = {"value": "wrong-token-000000000"}
    with stub_server(token=TOKEN) as stub:
        agent = Agent(make_config(tmp_path, stub.url), token=lambda: token["value"])
        agent.start()
        try:
            total = fill(agent, tmp_path, files=1, rows=20)
            wait_until(lambda: agent.stats()["paused"])
            snap = agent.stats()
            assert "credentials" in snap["paused_reason"] and snap["failed"] == 0
            token["value"] = TOKEN
            agent.sender.credentials_changed()
            wait_until(lambda: agent.stats()["sent"] == total, timeout=30)
            assert agent.stats()["paused"] is False
        finally:
            agent.stop()


@pytest.mark.slow
def test_item_rejects_fail_only_the_bad_rows(tmp_path):
    with stub_server(token=TOKEN, reject_when=["Patient_last_name=^Peña$"]) as stub:
        agent = Agent(make_config(tmp_path, stub.url), token=lambda: TOKEN)
        agent.start()
        try:
            total = fill(agent, tmp_path, files=1, rows=200)
            def settled():  # one snapshot: two reads could straddle a batch's answer (items requeued)
                now = agent.stats()
                return now if now["pending"] == 0 and now["sending"] == 0 else None

            snap = wait_until(settled, timeout=30)
        finally:
            agent.stop()
        stats = stub.stats()
    assert snap["failed"] > 0 and snap["sent"] + snap["failed"] == total
    assert stats["accepted_items"] == snap["sent"]
