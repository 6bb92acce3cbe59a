"""Fuzzing over real HTTP: whatever arrives, the stub answers, and never with a 5xx (no faults set)."""

from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.stub.conftest import ERROR_ANSWER, RECEIPT

HEADER_TEXT = st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=40).map(str.strip)
CONTENT_TYPES = st.one_of(
    st.sampled_from(["text/csv", "application/x-ndjson", "application/json", "text/csv; charset=utf-8",
                     "TEXT/CSV", "application/json; x=1", "multipart/form-data; boundary=x", ""]),
    HEADER_TEXT,
    st.none(),
)
CSV_CELLS = st.one_of(st.text(alphabet=st.sampled_from(list('ab1 ,"\r\n\t\\é\x00')), max_size=12),
                      st.just("Result_ID"))
BODIES = st.one_of(
    st.binary(max_size=600),
    st.text(max_size=300).map(lambda t: t.encode("utf-8", "surrogatepass")),
    st.lists(st.lists(CSV_CELLS, max_size=5), max_size=6).map(
        lambda rows: "\n".join(",".join(r) for r in rows).encode("utf-8")),
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=10),
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=4),
        max_leaves=20,
    ).map(lambda v: json.dumps(v).encode()),
    st.lists(st.dictionaries(st.sampled_from(["message_id", "a", " b "]), st.text(max_size=6), max_size=3),
             max_size=5).map(lambda objs: "\n".join(json.dumps(o) for o in objs).encode()),
)
HEADERS = st.fixed_dictionaries(
    {},
    optional={
        "client": HEADER_TEXT,
        "Idempotency-Key": HEADER_TEXT,
        "Authorization": HEADER_TEXT,
        "x-functions-key": HEADER_TEXT,
        "payloadname": HEADER_TEXT,
    },
)


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=BODIES, content_type=CONTENT_TYPES, headers=HEADERS, path=st.sampled_from(["/api/waters", "/api/reports"]))
def test_no_5xx_whatever_arrives(shared_client, body, content_type, headers, path):
    sent = dict(headers)
    if content_type is not None:
        sent["Content-Type"] = content_type
    r = shared_client.post(path, content=body, headers=sent)
    assert r.status_code < 500, (r.status_code, r.text)
    data = r.json()
    if r.status_code == 201:
        RECEIPT.validate(data)
    else:
        assert r.status_code in (400, 409, 413, 415, 422), r.status_code
        ERROR_ANSWER.validate(data)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.lists(st.lists(CSV_CELLS, min_size=3, max_size=3), min_size=1, max_size=8))
def test_stored_counts_match_receipts(shared_stub, shared_client, rows):
    import csv
    import io

    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerows([["Result_ID", "a", "b"], *rows])
    before = shared_stub.stats()["accepted_items"]
    r = shared_client.post("/api/waters", content=out.getvalue().encode(),
                           headers={"client": "fuzz", "Content-Type": "text/csv"})
    assert r.status_code in (201, 400), r.text
    stored = shared_stub.stats()["accepted_items"] - before
    assert stored == (r.json()["reportItemCount"] if r.status_code == 201 else 0)
