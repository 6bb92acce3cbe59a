"""auth = "oauth-jwt": the token request, the cache on the injected clock, one fresh token after a
401 (httpx.MockTransport), and the same rules against the stub's real POST /api/token."""

from __future__ import annotations

from urllib.parse import parse_qs

import httpx
import jwt
import pytest

from relay.clock import FakeClock
from relay.config import from_dict
from relay.delivery.destinations import DestinationContext, open_destination
from relay.delivery.destinations.oauth import ASSERTION_TYPE, TokenSource
from relay.delivery.sender import Sender
from relay.oauth_keys import generate
from relay.store.control import PAUSED_BY, PAUSED_REASON
from relay.store.outbox import Outbox
from tests.helpers.builders import new_item

INTAKE = "https://intake.example.org/api/waters"
TOKEN_URL = "https://auth.example.org/api/token"
KEY = generate()


def oauth_config(tmp_path, url=INTAKE, token_url=TOKEN_URL, **oauth):
    return from_dict({"intake": {"url": url, "auth": "oauth-jwt", "batch_max_items": 5,
                                 "oauth": {"token_url": token_url, "scope": "org.sender.report",
                                           "client_id": "org.sender", **oauth}},
                      "store": {"path": str(tmp_path / "o.db")},
                      "delivery": {"retry_initial_s": 1, "retry_max_s": 60}}, None)


class TokenEndpoint:
    """Token requests answered with fresh tokens; intake requests answered by ``intake``."""

    def __init__(self, intake=lambda request: httpx.Response(201, json={"id": "r"}), expires_in=300):
        self.forms: list[dict[str, str]] = []
        self.posts: list[httpx.Request] = []
        self.intake = intake
        self.expires_in = expires_in

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if str(request.url) == TOKEN_URL:
            self.forms.append({k: v[0] for k, v in parse_qs(request.content.decode()).items()})
            return httpx.Response(200, json={"access_token": f"tok-{len(self.forms)}", "token_type": "bearer",
                                             "expires_in": self.expires_in})
        self.posts.append(request)
        return self.intake(request)


def test_the_token_request_carries_a_fresh_signed_assertion(tmp_path):
    endpoint = TokenEndpoint()
    clock = FakeClock()
    config = oauth_config(tmp_path)
    source = TokenSource(config.intake.oauth, client=httpx.Client(transport=httpx.MockTransport(endpoint)),
                         clock=clock, secret=KEY.stored_form, timeout_s=5)
    assert source.token() == "tok-1"
    source.invalidate("tok-1")
    assert source.token() == "tok-2"
    jtis = set()
    for form in endpoint.forms:
        assert form["grant_type"] == "client_credentials" and form["client_assertion_type"] == ASSERTION_TYPE
        assert form["scope"] == "org.sender.report"
        assertion = form["client_assertion"]
        assert jwt.get_unverified_header(assertion)["kid"] == "org.sender"
        claims = jwt.decode(assertion, KEY.key.public_key(), algorithms=["ES384"], audience="auth.example.org",
                            options={"verify_exp": False})
        assert claims["iss"] == claims["sub"] == "org.sender"
        assert claims["exp"] <= clock.now() + 300
        jtis.add(claims["jti"])
    assert len(jtis) == 2


def test_the_access_token_is_kept_until_30_s_before_it_runs_out(tmp_path):
    endpoint = TokenEndpoint(expires_in=300)
    clock = FakeClock()
    source = TokenSource(oauth_config(tmp_path).intake.oauth,
                         client=httpx.Client(transport=httpx.MockTransport(endpoint)), clock=clock,
                         secret=KEY.stored_form, timeout_s=5)
    source.token()
    clock.advance(269)
    assert source.token() == "tok-1" and len(endpoint.forms) == 1
    clock.advance(2)
    assert source.token() == "tok-2" and len(endpoint.forms) == 2


def make_sender(tmp_path, endpoint, clock=None, secret=KEY.stored_form):
    config = oauth_config(tmp_path)
    clock = clock or FakeClock()
    box = Outbox(config.store.path)
    destination = open_destination(DestinationContext(
        config=config, clock=clock, secret=secret,
        http_client=httpx.Client(transport=httpx.MockTransport(endpoint))))
    return Sender(box, config, destination=destination, clock=clock), box, clock


def test_a_401_gets_one_fresh_token_before_sending_pauses(tmp_path):
    answers = [httpx.Response(401, json={"message": "token expired"}), httpx.Response(201, json={"id": "r"})]
    endpoint = TokenEndpoint(intake=lambda request: answers.pop(0))
    sender, box, clock = make_sender(tmp_path, endpoint)
    box.add_items([new_item(1)], source="file", client="c", now=clock.now())
    sender.step()
    assert box.get_item(1).state == "sent" and box.get_control(PAUSED_BY) is None
    assert [p.headers["authorization"] for p in endpoint.posts] == ["Bearer tok-1", "Bearer tok-2"]
    box.close()


def test_a_second_401_pauses_with_a_plain_reason(tmp_path):
    endpoint = TokenEndpoint(intake=lambda request: httpx.Response(401, json={"message": "no"}))
    sender, box, clock = make_sender(tmp_path, endpoint)
    box.add_items([new_item(1)], source="file", client="c", now=clock.now())
    sender.step()
    assert len(endpoint.posts) == 2 and len(endpoint.forms) == 2
    assert box.get_item(1).state == "pending" and box.get_control(PAUSED_BY) == "intake"
    assert "access token" in box.get_control(PAUSED_REASON)
    box.close()


def test_no_stored_key_pauses_without_sending(tmp_path):
    endpoint = TokenEndpoint()
    sender, box, clock = make_sender(tmp_path, endpoint, secret=lambda: None)
    box.add_items([new_item(1)], source="file", client="c", now=clock.now())
    sender.step()
    assert endpoint.forms == [] and endpoint.posts == []
    assert "relay token keygen" in box.get_control(PAUSED_REASON)
    box.close()


def test_key_file_must_be_private(tmp_path):
    from relay.errors import ConfigError

    path = tmp_path / "sender-key.pem"
    from cryptography.hazmat.primitives import serialization

    path.write_bytes(KEY.key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    path.chmod(0o644)
    with pytest.raises(ConfigError, match="intake.oauth.key_file: .*chmod 600"):
        oauth_config(tmp_path, key_file=str(path))
    path.chmod(0o600)
    assert oauth_config(tmp_path, key_file=str(path)).intake.oauth.key_file == path
    with pytest.raises(ConfigError, match="intake.oauth.key_file: cannot read"):
        oauth_config(tmp_path, key_file=str(tmp_path / "missing.pem"))
