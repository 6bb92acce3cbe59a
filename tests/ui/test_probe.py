""""Test connection": what the intake's answer to an empty probe means, in plain words. The HTTP
client is injected (httpx.MockTransport) as for the sender; one case uses a real closed port."""

from __future__ import annotations

import socket

import httpx
import pytest

from relay.config import from_dict
from relay.ui import probe as p


def config(url="http://127.0.0.1:8080/api/waters", **intake):
    return from_dict({"intake": {"url": url, **intake}, "listener": {"enabled": False}}, None)


def answering(status, body=b"{}", seen=None):
    def handler(request: httpx.Request) -> httpx.Response:
        if seen is not None:
            seen.append(request)
        return httpx.Response(status, content=body)

    return httpx.Client(transport=httpx.MockTransport(handler))


def test_the_probe_sends_no_results_and_the_batch_headers():
    seen: list[httpx.Request] = []
    result = p.probe(config(client="lab.north", format="csv"), "s3cret", client=answering(400, seen=seen))
    assert result.ok and result.status == 400
    assert "reachable and accepted the credential" in result.text and "no results were sent" in result.text
    (req,) = seen
    assert req.method == "POST" and req.content == b""
    assert req.headers["client"] == "lab.north" and req.headers["content-type"] == "text/csv"
    assert req.headers["authorization"] == "Bearer s3cret"
    assert req.headers["idempotency-key"].startswith("relay-connection-test-")


@pytest.mark.parametrize("status, outcome, words", [
    (401, p.BAD_CREDENTIAL, "rejected the credential (401)"),
    (403, p.BAD_CREDENTIAL, "rejected the credential (403)"),
    (404, p.WRONG, "no intake at this address (404)"),
    (410, p.WRONG, "retired (410)"),
    (503, p.UNAVAILABLE, "not taking results right now (503)"),
    (429, p.UNAVAILABLE, "not taking results right now (429)"),
    (500, p.UNAVAILABLE, "server error (500)"),
    (201, p.OK, "accepted the credential"),
    (415, p.OK, "accepted the credential"),
])
def test_answers_in_plain_words(status, outcome, words):
    result = p.probe(config(), "tok", client=answering(status, b'{"message": "said so"}'))
    assert result.outcome == outcome and words in result.text
    if outcome not in (p.OK,):
        assert "The intake said: said so" in result.text


def test_functions_key_and_missing_credential():
    seen: list[httpx.Request] = []
    p.probe(config(auth="functions-key"), "k", client=answering(400, seen=seen))
    assert seen[0].headers["x-functions-key"] == "k" and "authorization" not in seen[0].headers
    result = p.probe(config(), None, client=answering(401))
    assert result.outcome == p.BAD_CREDENTIAL and result.text.startswith("No credential is stored")
    result = p.probe(config(), None, client=answering(400))
    assert result.ok and "did not ask for a credential" in result.text


def test_unreachable_intake():
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    result = p.probe(config(f"http://127.0.0.1:{port}/api/waters", timeout_s=5), "tok")
    assert result.outcome == p.UNREACHABLE and result.text.startswith(f"Could not reach 127.0.0.1:{port}")
    assert p.probe(from_dict({"listener": {"enabled": False}}, None), "t").text == "No intake address is set."
