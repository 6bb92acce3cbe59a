"""Heartbeats: posted to the real stub with a stable agent id, the intake's credential only to the
intake's host, failures logged once per incident, delivery never touched."""

from __future__ import annotations

import logging
import socket

import httpx

from relay.agent import Agent
from relay.clock import FakeClock
from relay.config import from_dict
from relay.heartbeat import Heartbeat, same_host
from tests.helpers.builders import new_item
from tests.helpers.stub_server import http_client, stub_server
from tests.helpers.waiting import wait_until

TOKEN = "test-token-0123456789"


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_the_agent_posts_its_status_with_a_stable_id_and_the_intakes_credential(tmp_path):
    with stub_server(token=TOKEN) as stub:
        config = from_dict({
            "intake": {"url": stub.url, "timeout_s": 5},
            "store": {"path": str(tmp_path / "outbox.db")},
            "listener": {"enabled": False},
            "heartbeat": {"url": stub.base_url + "/api/agents", "site": "Clinic North", "every_s": 60},
        }, None)
        with http_client(stub.base_url, timeout=30) as http:
            def agents():
                return http.get("/api/agents").json()["agents"]

            with Agent(config, token=lambda: TOKEN) as agent:
                agent_id = agent.box.agent_id()
                (seen,) = wait_until(agents)
                # counted once its answer is read, a moment after the stub has stored it
                assert agent.heartbeat is not None and wait_until(lambda: agent.heartbeat.sent >= 1)
            assert seen["agent_id"] == agent_id and seen["site"] == "Clinic North" and seen["version"]
            assert seen["every_s"] == 60 and seen["stale"] is False and seen["healthy"] is True
            with Agent(config, token=lambda: TOKEN) as again:  # a restart keeps the id: still one agent
                wait_until(lambda: again.heartbeat is not None and again.heartbeat.sent >= 1)
            assert [a["agent_id"] for a in agents()] == [agent_id]


def _config(beat_url: str, intake_url: str = "https://intake.example.org/api/waters", auth: str = "bearer"):
    return from_dict({"intake": {"url": intake_url, "auth": auth}, "heartbeat": {"url": beat_url, "site": "s"}},
                     None)


def test_the_credential_goes_only_to_the_intakes_own_host():
    requests: list[httpx.Request] = []

    def receiver(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        return httpx.Response(200, json={})

    cases = [("https://intake.example.org/api/agents", "bearer", {"authorization": f"Bearer {TOKEN}"}),
             ("https://intake.example.org:443/fleet/in", "functions-key", {"x-functions-key": TOKEN}),
             ("https://fleet.example.org/api/agents", "bearer", {}),
             ("http://intake.example.org/api/agents", "bearer", {}),  # another scheme: another origin
             ("https://intake.example.org/api/agents", "none", {})]
    for url, auth, expected in cases:
        beat = Heartbeat(_config(url, auth=auth), status=lambda: {"pending": 0}, agent_id="a-1", token=lambda: TOKEN,
                         clock=FakeClock(), client=httpx.Client(transport=httpx.MockTransport(receiver)))
        assert beat.beat() is True
        sent = {k: v for k, v in requests[-1].headers.items() if k in ("authorization", "x-functions-key")}
        assert sent == expected, url
    assert same_host("https://a.example/x", "https://A.example:443/y")
    assert not same_host("https://a.example/x", None)


def test_failures_are_logged_once_per_incident(caplog):
    answers = [httpx.ConnectError("refused"), httpx.Response(503), httpx.Response(202), httpx.Response(500),
               httpx.Response(500)]

    def receiver(request: httpx.Request) -> httpx.Response:
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    beat = Heartbeat(_config("https://fleet.example.org/api/agents"), status=lambda: {}, agent_id="a-1",
                     token=lambda: None, clock=FakeClock(), client=httpx.Client(transport=httpx.MockTransport(receiver)))
    with caplog.at_level(logging.DEBUG, logger="relay.heartbeat"):
        results = [beat.beat() for _ in range(5)]
    assert results == [False, False, True, False, False]
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 2 and "ConnectError" in warnings[0] and "HTTP 500" in warnings[1]
    assert any("takes heartbeats again" in r.getMessage() for r in caplog.records if r.levelno == logging.INFO)


def test_an_unreadable_outbox_is_reported_not_hidden():
    from relay.errors import EnvironmentProblem

    def status():
        raise EnvironmentProblem("the outbox at /x is read-only")

    beat = Heartbeat(_config("https://fleet.example.org/api/agents"), status=status, agent_id="a-1",
                     token=lambda: None, clock=FakeClock())
    body = beat.body()
    beat.stop()
    assert body["status"]["healthy"] is False and "read-only" in body["status"]["unhealthy_reasons"][0]


def test_a_dead_heartbeat_receiver_never_touches_delivery(tmp_path, caplog):
    with stub_server(token=TOKEN) as stub:
        config = from_dict({
            "intake": {"url": stub.url, "timeout_s": 5},
            "store": {"path": str(tmp_path / "outbox.db")},
            "listener": {"enabled": False},
            "heartbeat": {"url": f"http://127.0.0.1:{closed_port()}/api/agents", "every_s": 5},
        }, None)
        with caplog.at_level(logging.INFO, logger="relay.heartbeat"), Agent(config, token=lambda: TOKEN) as agent:
            agent.box.add_items([new_item(n) for n in range(5)], source="t", client="c", now=agent.clock.now())
            agent.new_work()
            wait_until(lambda: agent.box.counts().by_state["sent"] == 5)
            wait_until(lambda: any(r.name == "relay.heartbeat" for r in caplog.records))
        assert stub.stats()["accepted_items"] == 5
    (warning,) = [r for r in caplog.records if r.name == "relay.heartbeat"]
    assert "delivery is not affected" in warning.getMessage()
