"""The stub's POST /api/token: each rule refuses with a plain reason; --jwt-key and --token-ttl
work from the command line too."""

from __future__ import annotations

import httpx
import jwt
import pytest

from server_stub import ManualClock
from relay.oauth_keys import generate
from tests.helpers.stub_server import stub_server

CLIENT = "org.sender"
KEY = generate()
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


def form(clock, key=KEY, headers=None, **claims):
    base = {"iss": CLIENT, "sub": CLIENT, "aud": "127.0.0.1", "exp": int(clock.now()) + 300, "jti": "j-1"}
    base.update(claims)
    base = {k: v for k, v in base.items() if v is not None}
    assertion = jwt.encode(base, key.key, algorithm="ES384", headers=headers or {"kid": CLIENT})
    return {"grant_type": "client_credentials", "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": assertion, "scope": "org.sender.report"}


@pytest.fixture
def stub():
    clock = ManualClock()
    with stub_server(clock=clock, jwt_keys=[(CLIENT, KEY.public_pem())]) as running:
        yield running, clock


@pytest.mark.parametrize("change, status, words", [
    ({"grant_type": "password"}, 400, "grant_type must be client_credentials"),
    ({"client_assertion_type": "jwt"}, 400, "client_assertion_type must be"),
    ({"scope": ""}, 400, "a scope is required"),
    ({"client_assertion": "not-a-jwt"}, 400, "not a JWT"),
])
def test_form_rules(stub, change, status, words):
    running, clock = stub
    answer = httpx.post(running.base_url + "/api/token", data={**form(clock), **change})
    assert answer.status_code == status and words in answer.json()["error_description"]


@pytest.mark.parametrize("claims, words", [
    ({"aud": "intake.example.org"}, "not for this token endpoint"),
    ({"exp": 1_767_225_600 + 3600}, "more than 5 minutes ahead"),
    ({"exp": 1_767_225_600 - 60}, "expired at 2025-12-31T23:59:00.000Z"),
    ({"sub": "someone.else"}, "iss and sub differ"),
    ({"iss": "other", "sub": "other"}, "is not the sender its key is registered for ('org.sender')"),
    ({"jti": None}, "has no 'jti' claim"),
])
def test_assertion_rules(stub, claims, words):
    running, clock = stub
    answer = httpx.post(running.base_url + "/api/token", data=form(clock, **claims))
    assert answer.status_code in (400, 401) and words in answer.json()["error_description"]
    assert running.stats()["tokens"]["refused"] == 1


def test_an_unknown_sender_and_a_wrong_key_are_refused(stub):
    running, clock = stub
    unknown = httpx.post(running.base_url + "/api/token",
                         data=form(clock, headers={"kid": "nobody"}, iss="nobody", sub="nobody"))
    assert unknown.status_code == 401 and "no public key is registered for 'nobody'" in \
        unknown.json()["error_description"]
    forged = httpx.post(running.base_url + "/api/token", data=form(clock, key=generate()))
    assert forged.status_code == 401 and "signature does not verify" in forged.json()["error_description"]


def test_tokens_run_out_on_the_stubs_clock(stub):
    running, clock = stub
    token = httpx.post(running.base_url + "/api/token", data=form(clock)).json()["access_token"]
    headers = {"client": "lab", "content-type": "text/csv", "authorization": f"Bearer {token}"}
    assert httpx.post(running.url, content=b"Result_ID\r\na\r\n", headers=headers).status_code == 201
    clock.advance(301)
    assert httpx.post(running.url, content=b"Result_ID\r\nb\r\n", headers=headers).status_code == 401


@pytest.mark.slow
def test_jwt_key_and_token_ttl_from_the_command_line():
    with stub_server(subprocess=True, jwt_keys=[(CLIENT, KEY.public_pem())], token_ttl_s=5) as running:
        import time

        from relay.clock import SystemClock

        clock = SystemClock()
        answer = httpx.post(running.base_url + "/api/token", data=form(clock, jti=f"j-{time.monotonic()}"))
    assert answer.status_code == 200 and answer.json()["expires_in"] == 5
