"""The demo's receiving stub starts whatever its random token looks like."""

from __future__ import annotations

import httpx

from relay.demo import start_stub, stop_stub


def test_a_token_that_begins_with_a_dash_is_still_the_stubs_token(tmp_path):
    # secrets.token_urlsafe gives a token beginning with "-" about once in 32 starts; as a word of
    # its own on the command line it read as an unknown option, and the stub did not start.
    token = "-Xq3_" + "a" * 27
    stub, url = start_stub(tmp_path, token)
    try:
        assert url.startswith("http://127.0.0.1:")
        post = {"content": b"a,b\r\n1,2\r\n", "headers": {"Content-Type": "text/csv", "client": "demo"}}
        assert httpx.post(url + "/api/waters", **post).status_code == 401
        answer = httpx.post(url + "/api/waters", **post | {"headers": post["headers"] | {"Authorization": f"Bearer {token}"}})
        assert answer.status_code // 100 == 2, answer.text
    finally:
        stop_stub(stub)
    assert stub.returncode is not None


def test_a_stub_that_cannot_start_says_why(tmp_path):
    (tmp_path / "stub.db").mkdir()  # a folder where the stub's database file should be
    try:
        start_stub(tmp_path, "token")
    except RuntimeError as exc:
        assert "did not start" in str(exc) and "stub-output.log" in str(exc)
        assert "empty" not in str(exc).rsplit("stub-output.log", 1)[1], str(exc)
    else:
        raise AssertionError("the stub started on a folder as its database")
