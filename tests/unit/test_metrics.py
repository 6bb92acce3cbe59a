"""GET /metrics: the names of INTERFACE §11 exactly, values from the status object, no patient data,
and `promtool check metrics` finds nothing to say."""

from __future__ import annotations

import shutil
import subprocess

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from relay import __version__
from relay.agent import Agent
from relay.clock import FakeClock
from relay.config import from_dict
from relay.metrics import render
from tests.helpers.builders import csv_build, new_item

PROMTOOL = shutil.which("promtool")
NAMES = {"relay_items", "relay_duplicates", "relay_files", "relay_oldest_pending_age_seconds",
         "relay_last_success_timestamp_seconds", "relay_intake_requests", "relay_paused", "relay_maintenance",
         "relay_disk_free_bytes", "relay_outbox_bytes", "relay_build_info"}


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


@pytest.fixture
def agent(tmp_path):
    clock = FakeClock()
    config = from_dict({"store": {"path": str(tmp_path / "outbox.db")}, "listener": {"enabled": True, "port": 0}},
                       None)
    with Agent(config, clock=clock) as agent:
        box = agent.box
        box.add_items([new_item(n) for n in range(7)], source="t", client="c", now=clock.now())
        box.add_items([new_item(0)], source="t", client="c", now=clock.now())  # a duplicate
        clock.advance(90)
        batch = box.claim(now=clock.now(), lease_s=60, owner="me", limit=2, build=csv_build)
        box.complete(batch.id, owner="me", receipt="r-1", status=201, now=clock.now())
        box.count_intake_request("delivered")
        box.count_intake_request("unavailable")
        clock.advance(30)
        yield agent


def test_metrics_carry_the_status_under_the_contracts_names(agent):
    with httpx.Client(base_url=agent.listener.url, timeout=30) as http:
        r = http.get("/metrics")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain; version=0.0.4")
    families = {f.name for f in text_string_to_metric_families(r.text)}
    assert families == NAMES
    got = samples(r.text)
    t0 = FakeClock().now()
    assert got[("relay_items", (("state", "pending"),))] == 5
    assert got[("relay_items", (("state", "sent"),))] == 2
    assert got[("relay_items", (("state", "discarded"),))] == 0
    assert got[("relay_duplicates_total", ())] == 1
    assert got[("relay_oldest_pending_age_seconds", ())] == 120
    assert got[("relay_last_success_timestamp_seconds", ())] == t0 + 90
    assert got[("relay_intake_requests_total", (("outcome", "delivered"),))] == 1
    assert got[("relay_intake_requests_total", (("outcome", "unavailable"),))] == 1
    assert got[("relay_intake_requests_total", (("outcome", "error"),))] == 0
    assert got[("relay_paused", ())] == 0 and got[("relay_maintenance", ())] == 0
    assert got[("relay_disk_free_bytes", ())] > 0 and got[("relay_outbox_bytes", ())] > 0
    assert got[("relay_build_info", (("version", __version__),))] == 1
    assert "id-1" not in r.text and "Name1" not in r.text  # no tracking ids, no patient data
    agent.pause("lab move")
    with httpx.Client(base_url=agent.listener.url, timeout=30) as http:
        assert samples(http.get("/metrics").text)[("relay_paused", ())] == 1


def test_nothing_waiting_is_an_age_of_zero_and_never_delivered_is_zero():
    got = samples(render({"now": "2026-01-01T00:00:00+00:00", "oldest_pending_at": None, "last_success_at": None})
                  .decode())
    assert got[("relay_oldest_pending_age_seconds", ())] == 0
    assert got[("relay_last_success_timestamp_seconds", ())] == 0
    assert ("relay_disk_free_bytes", ()) not in got  # unknown is left out, not shown as a full disk


@pytest.mark.skipif(PROMTOOL is None, reason="promtool is not installed (Debian package prometheus)")
def test_promtool_finds_nothing_to_say_about_the_output(agent):
    with httpx.Client(base_url=agent.listener.url, timeout=30) as http:
        text = http.get("/metrics").content
    assert PROMTOOL is not None
    out = subprocess.run([PROMTOOL, "check", "metrics"], input=text, capture_output=True, timeout=60)
    assert out.returncode == 0 and out.stdout == b"" and out.stderr == b"", out.stdout + out.stderr


def test_a_token_protected_listener_needs_it_for_metrics_too(tmp_path):
    token = "listener-token-0123456789"
    config = from_dict({"store": {"path": str(tmp_path / "o.db")},
                        "listener": {"enabled": True, "port": 0, "token": token}}, None)
    with Agent(config) as agent, httpx.Client(base_url=agent.listener.url, timeout=30) as http:
        assert http.get("/metrics").status_code == 401
        assert http.get("/metrics", headers={"Authorization": f"Bearer {token}"}).status_code == 200
