"""auth = "oauth-jwt" against the stub's real POST /api/token on loopback: 5-second tokens, many
expiries, no pause, no reused jti; an expired or wrongly signed assertion pauses sending with the
token endpoint's plain reason. The private key lives in an in-memory keyring."""

from __future__ import annotations

import httpx
import pytest

from relay import credentials
from relay.clock import FakeClock
from relay.config import from_dict
from relay.delivery.destinations import DestinationContext, open_destination
from relay.delivery.sender import Sender
from relay.oauth_keys import generate, store
from relay.store.control import PAUSED_BY, PAUSED_REASON
from relay.store.outbox import Outbox
from server_stub import ManualClock
from tests.helpers.builders import new_item
from tests.helpers.keyrings import memory_keyring
from tests.helpers.stub_server import stub_server

CLIENT = "org.sender"


@pytest.fixture
def keyring_with_key():
    with memory_keyring():
        key = generate()
        store(key)
        yield key


def run(tmp_path, stub, clock, rounds, advance_s, per_round=2, between=lambda: None):
    config = from_dict({"intake": {"url": stub.url, "auth": "oauth-jwt", "batch_max_items": per_round,
                                   "timeout_s": 10,
                                   "oauth": {"token_url": stub.base_url + "/api/token", "scope": "org.sender.report",
                                             "client_id": CLIENT}},
                        "store": {"path": str(tmp_path / "o.db")},
                        "delivery": {"retry_initial_s": 1, "retry_max_s": 10}}, None)
    box = Outbox(config.store.path)
    destination = open_destination(DestinationContext(config=config, clock=clock, secret=credentials.get_token))
    sender = Sender(box, config, destination=destination, clock=clock)
    try:
        for n in range(rounds):
            box.add_items([new_item(n * per_round + i) for i in range(per_round)], source="file", client="lab",
                          now=clock.now())
            sender.step()
            clock.advance(advance_s)
            between()
        return {state: count for state, count in box.counts().by_state.items() if count}, dict(
            box.get_controls([PAUSED_BY, PAUSED_REASON]))
    finally:
        destination.close()
        box.close()


def test_delivery_across_many_token_expiries_without_a_pause_or_a_reused_jti(tmp_path, keyring_with_key):
    clock = FakeClock()
    with stub_server(clock=clock, jwt_keys=[(CLIENT, keyring_with_key.public_pem())], token_ttl_s=5) as stub:
        states, control = run(tmp_path, stub, clock, rounds=20, advance_s=2)
        stats = stub.stats()
    assert states == {"sent": 40} and control == {}
    assert stats["tokens"]["refused"] == 0  # a reused jti would have been refused
    assert stats["tokens"]["issued"] >= 10  # 40 s of 5-second tokens
    assert stats["by_status"].get("401", 0) == 0


def test_a_token_the_intake_no_longer_takes_costs_one_fresh_token(tmp_path, keyring_with_key):
    relay_clock, stub_clock = FakeClock(), ManualClock()
    with stub_server(clock=stub_clock, jwt_keys=[(CLIENT, keyring_with_key.public_pem())], token_ttl_s=60) as stub:
        # The intake's clock runs ahead of relay's: relay still trusts a token the intake calls expired.
        states, control = run(tmp_path, stub, relay_clock, rounds=2, advance_s=0,
                              between=lambda: stub_clock.advance(61))
        stats = stub.stats()
    assert control == {} and states == {"sent": 4}
    assert stats["by_status"]["401"] == 1 and stats["tokens"]["issued"] == 2


def test_an_expired_assertion_pauses_with_the_token_endpoints_reason(tmp_path, keyring_with_key):
    stub_clock = ManualClock(FakeClock().now() + 3600)  # the intake's clock is an hour ahead of relay's
    with stub_server(clock=stub_clock, jwt_keys=[(CLIENT, keyring_with_key.public_pem())]) as stub:
        states, control = run(tmp_path, stub, FakeClock(), rounds=1, advance_s=0)
    assert states == {"pending": 2} and control[PAUSED_BY] == "intake"
    assert "the client assertion expired at" in control[PAUSED_REASON]
    assert "is the sender's clock right?" in control[PAUSED_REASON]


def test_a_wrongly_signed_assertion_pauses_with_the_token_endpoints_reason(tmp_path, keyring_with_key):
    other = generate()  # registered at the intake: not the key relay holds
    with stub_server(clock=FakeClock(), jwt_keys=[(CLIENT, other.public_pem())]) as stub:
        states, control = run(tmp_path, stub, FakeClock(), rounds=1, advance_s=0)
    assert states == {"pending": 2} and control[PAUSED_BY] == "intake"
    assert "signature does not verify" in control[PAUSED_REASON] and CLIENT in control[PAUSED_REASON]


def test_the_stub_refuses_a_reused_jti_and_takes_only_its_own_tokens(keyring_with_key):
    import jwt as pyjwt

    clock = FakeClock()
    with stub_server(clock=clock, jwt_keys=[(CLIENT, keyring_with_key.public_pem())]) as stub:
        claims = {"iss": CLIENT, "sub": CLIENT, "aud": "127.0.0.1", "exp": int(clock.now()) + 300, "jti": "j-1"}
        assertion = pyjwt.encode(claims, keyring_with_key.key, algorithm="ES384", headers={"kid": CLIENT})
        form = {"grant_type": "client_credentials", "scope": "s", "client_assertion": assertion,
                "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"}
        with httpx.Client(base_url=stub.base_url) as http:
            first = http.post("/api/token", data=form)
            again = http.post("/api/token", data=form)
            token = first.json()["access_token"]
            ok = http.post("/api/waters", content=b"Result_ID\r\nx\r\n",
                           headers={"client": "lab", "content-type": "text/csv", "authorization": f"Bearer {token}"})
            forged = http.post("/api/waters", content=b"Result_ID\r\ny\r\n",
                               headers={"client": "lab", "content-type": "text/csv", "authorization": "Bearer nope"})
    assert first.status_code == 200 and first.json()["expires_in"] == 300
    assert again.status_code == 401 and "jti was used before" in again.json()["error_description"]
    assert ok.status_code == 201 and forged.status_code == 401


def test_a_heartbeat_to_the_intakes_host_carries_the_access_token(tmp_path, keyring_with_key):
    """Under oauth-jwt the stub's POST /api/agents takes only an access token it issued: the
    heartbeat carries the sender's (the private key stays in the keyring, never on the wire)."""
    from relay.agent import Agent
    from tests.helpers.waiting import wait_until

    with stub_server(jwt_keys=[(CLIENT, keyring_with_key.public_pem())], token_ttl_s=300) as stub:
        config = from_dict({"intake": {"url": stub.url, "auth": "oauth-jwt", "timeout_s": 10,
                                       "oauth": {"token_url": stub.base_url + "/api/token",
                                                 "scope": "org.sender.report", "client_id": CLIENT}},
                            "store": {"path": str(tmp_path / "o.db")}, "listener": {"enabled": False},
                            "heartbeat": {"url": stub.base_url + "/api/agents", "site": "Clinic East",
                                          "every_s": 60}}, None)
        with Agent(config, token=credentials.get_token) as agent:
            assert agent.heartbeat is not None
            assert wait_until(lambda: agent.heartbeat.sent >= 1)
            agent_id = agent.box.agent_id()
        stats = stub.stats()
        with httpx.Client(base_url=stub.base_url, timeout=10) as http:
            bare = http.post("/api/agents", json={"agent_id": "x", "site": "y", "version": "1", "every_s": 60,
                                                  "sent_at": "2026-12-06T00:00:00Z", "status": {}})
            listed = http.get("/api/agents").json()["agents"]
    assert bare.status_code == 401  # the stub does want a credential here
    assert [a["agent_id"] for a in listed] == [agent_id] and listed[0]["site"] == "Clinic East"
    assert stats["tokens"]["issued"] >= 1 and stats["tokens"]["refused"] == 0


def test_heartbeats_do_not_ask_again_for_a_token_the_endpoint_refused(tmp_path):
    """The token endpoint refuses relay's assertion (a key it does not know): the sender pauses
    with the reason, and later heartbeats go without a credential instead of asking again."""
    from relay.agent import Agent
    from tests.helpers.waiting import wait_until

    with memory_keyring():
        store(generate())  # the key relay signs with
        registered = generate()  # the key the intake knows: another one
        with stub_server(jwt_keys=[(CLIENT, registered.public_pem())], token_ttl_s=300) as stub:
            config = from_dict({"intake": {"url": stub.url, "auth": "oauth-jwt", "timeout_s": 10,
                                           "oauth": {"token_url": stub.base_url + "/api/token",
                                                     "scope": "org.sender.report", "client_id": CLIENT}},
                                "store": {"path": str(tmp_path / "o.db")}, "listener": {"enabled": False},
                                "heartbeat": {"url": stub.base_url + "/api/agents", "every_s": 3600}}, None)
            with Agent(config, token=credentials.get_token) as agent:
                agent.box.add_items([new_item(1)], source="file", client="lab", now=agent.clock.now())
                agent.new_work()
                assert "refused relay's client assertion" in wait_until(lambda: agent.stats()["paused_reason"])
                asked = stub.stats()["tokens"]["refused"]
                assert asked >= 1
                assert [agent.heartbeat.beat() for _ in range(3)] == [False] * 3  # 401: no credential
                assert stub.stats()["tokens"]["refused"] == asked
