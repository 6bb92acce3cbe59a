"""The listener inside the agent: a post is delivered to the real receiving stub, and a waiting
GET sees it sent; /healthz is the agent's status object."""

from __future__ import annotations

import json

import httpx

from relay.agent import Agent
from relay.config import from_dict
from tests.helpers.stub_server import stub_server

TOKEN = "test-token-0123456789"
LISTENER_TOKEN = "listener-token-0123456789"


def test_post_then_wait_until_the_intake_has_it(tmp_path):
    with stub_server(token=TOKEN) as stub:
        config = from_dict({
            "intake": {"url": stub.url, "timeout_s": 5},
            "store": {"path": str(tmp_path / "outbox.db")},
            "listener": {"enabled": True, "port": 0},
            "delivery": {"retry_initial_s": 0.05, "retry_max_s": 0.5},
        }, None)
        agent = Agent(config, token=lambda: TOKEN)
        agent.start()
        try:
            url = agent.listener.url
            with httpx.Client(base_url=url, timeout=30) as http:
                posted = http.post("/v1/results", json={"Result_ID": "e2e-1", "Test_result_code": "260415000"},
                                   headers={"payloadname": "lab-feed"})
                assert posted.status_code == 202
                (item_id,) = posted.json()["ids"]
                answer = http.get(f"/v1/results/{item_id}", params={"wait": "20"}).json()
                assert answer["state"] == "sent"
                assert answer["receipt"] and answer["sent_at"] and answer["attempts"] == 1
                health = http.get("/healthz").json()
                assert health["sent"] == 1 and health["pending"] == 0
                assert set(health) >= {"pending", "sending", "sent", "failed", "dead", "duplicates", "paused",
                                       "maintenance_until", "oldest_pending_at", "last_success_at"}
            assert stub.stats()["accepted_items"] == 1
            (received,) = stub.all_items()
            assert "e2e-1" in json.dumps(received)
        finally:
            agent.stop()
