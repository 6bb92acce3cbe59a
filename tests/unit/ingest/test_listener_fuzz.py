"""Random bodies and content types against a real listener: never a 5xx; a 4xx never stores anything."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.unit.ingest.listener_support import running

CONTENT_TYPES = ["application/json", "application/x-ndjson", "text/csv", "application/json; charset=utf-8",
                 "text/csv; charset=latin-1", "application/json; charset=utf-16", "text/plain",
                 "application/octet-stream", "", "application/x-ndjson;", "TEXT/CSV", "application/json;;;x"]

text = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=12)
scalars = st.none() | st.booleans() | st.integers() | st.floats() | text
json_values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(text, inner, max_size=4),
                           max_leaves=15)


def _json_text(value: object) -> bytes:
    return json.dumps(value, allow_nan=True, ensure_ascii=False).encode("utf-8", "surrogatepass")


def _csv(rows: list[list[str]]) -> bytes:
    return "\n".join(",".join(row) for row in rows).encode("utf-8", "surrogatepass")


names = st.text("ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz0123456789 ", min_size=1, max_size=10)
results = st.dictionaries(names, text | st.integers(0, 10**6), min_size=1, max_size=5)

bodies = st.one_of(
    st.binary(max_size=400),
    results.map(_json_text),
    st.lists(results, min_size=1, max_size=4).map(_json_text),
    st.lists(results, min_size=1, max_size=4).map(lambda objs: b"\n".join(_json_text(o) for o in objs)),
    json_values.map(_json_text),
    st.lists(st.dictionaries(text, scalars, max_size=5), max_size=4).map(
        lambda objs: b"\n".join(_json_text(o) for o in objs)),
    st.lists(st.lists(text, min_size=1, max_size=4), min_size=1, max_size=5).map(_csv),
    st.lists(st.sampled_from([b"{", b"}", b"[", b"]", b'"a"', b":", b",", b"1", b"NaN", b"\n", b"\xef\xbb\xbf",
                              b"\xff", b'"Result_ID"', b'"x"', b"null", b" ", b"\r\n", b"a,b", b'"']),
             max_size=40).map(b"".join),
)


@pytest.fixture(scope="module")
def rig(tmp_path_factory):
    with running(tmp_path_factory.mktemp("fuzz"), max_body_bytes=64 * 1024) as r:
        yield r


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                  HealthCheck.too_slow])
@given(body=bodies, content_type=st.sampled_from(CONTENT_TYPES),
       payloadname=st.none() | st.text(st.characters(min_codepoint=32, max_codepoint=255, exclude_characters="\x7f"), max_size=8))
def test_random_posts_never_fail_the_server_and_refusals_store_nothing(rig, body, content_type, payloadname):
    headers = {"content-type": content_type} if content_type else {}
    if payloadname is not None and payloadname.strip(" \t"):
        headers["payloadname"] = payloadname.strip(" \t")  # HTTP itself drops surrounding spaces
    before = rig.count()
    r = rig.http.post("/v1/results", content=body, headers=[(k.encode(), v.encode("latin-1"))
                                                             for k, v in headers.items()])
    assert r.status_code < 500, r.text
    assert r.headers["content-type"] == "application/json"
    answer = r.json()
    if r.status_code >= 400:
        assert set(answer) == {"error"} and answer["error"]
        assert rig.count() == before
    else:
        assert r.status_code in (200, 202)
        stored = rig.count() - before
        assert stored == len(answer["ids"]) > 0
        assert (r.status_code == 200) == (answer["duplicates"] == len(answer["ids"]))


def _holds(wait: str) -> bool:
    """A wait that could hold the answer for more than a moment (kept out to keep the test quick)."""
    try:
        return 0.05 < float(wait) <= 30
    except ValueError:
        return False


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(path=st.text(st.characters(min_codepoint=33, max_codepoint=126, exclude_characters="#?%"), max_size=20)
       | st.text("0123456789", min_size=1, max_size=6000),
       method=st.sampled_from(["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"]),
       wait=st.none() | st.text(max_size=6).filter(lambda w: not _holds(w)))
def test_random_requests_are_answered_in_json_without_a_5xx(rig, path, method, wait):
    params = {"wait": wait} if wait is not None else None
    r = rig.http.request(method, f"/v1/results/{path}", params=params)
    assert r.status_code < 500, r.text
    assert r.headers["content-type"] == "application/json"
