"""POST /api/waters and /api/reports: receipts and the request-level checks."""

from __future__ import annotations

import json

import pytest

from tests.helpers.stub_server import http_client, stub_server
from tests.stub.conftest import (
    assert_error,
    assert_receipt,
    body,
    item_errors,
    nothing_stored,
    post,
)


@pytest.mark.parametrize("path", ["/api/waters", "/api/reports"])
def test_csv_batch_is_received_with_a_receipt(stub, client, path):
    r = post(client, body(3), path=path, headers={"payloadname": "daily.csv"})
    data = assert_receipt(r, 3)
    assert data["overallStatus"] == "Received"
    assert data["sender"] == "lab.test"
    assert data["errorCount"] == 0 and data["errors"] == [] and data["warnings"] == []
    assert data["externalName"] == "daily.csv"
    assert r.headers["content-type"] == "application/json"
    stats = stub.stats()
    assert (stats["requests"], stats["accepted_items"], stats["unique_items"]) == (1, 3, 3)


def test_submission_ids_increase_and_receipt_ids_are_fresh(client):
    first = assert_receipt(post(client, body(1, 0)), 1)
    second = assert_receipt(post(client, body(1, 1)), 1)
    assert second["submissionId"] > first["submissionId"]
    assert first["id"] != second["id"]


def test_ndjson_and_json_bodies(stub, client):
    objects = [{"message_id": f"m{i}", "result": "negative", "n": i} for i in range(3)]
    ndjson = "\n".join(json.dumps(o) for o in objects) + "\n\n"
    assert_receipt(post(client, ndjson, content_type="application/x-ndjson"), 3)
    assert_receipt(post(client, json.dumps(objects[:2]), content_type="application/json"), 2)
    assert_receipt(post(client, json.dumps({"specimen_id": "s1", "result": "x"}), content_type="application/json"), 1)
    items = stub.all_items()
    assert [i["tracking_id"] for i in items] == ["m0", "m1", "m2", "m0", "m1", "s1"]
    assert items[0]["row"] == objects[0]
    assert stub.stats()["duplicates_received"] == 2


def test_quoted_csv_fields_with_commas_newlines_bom_and_crlf(stub, client):
    text = '\ufeffResult_ID,comment\r\nr-1,"line one\r\nline two, with comma"\r\nr-2,"say ""hi"""\r\n'
    assert_receipt(post(client, text.encode("utf-8")), 2)
    rows = [i["row"] for i in stub.all_items()]
    assert rows == [{"Result_ID": "r-1", "comment": "line one\r\nline two, with comma"},
                    {"Result_ID": "r-2", "comment": 'say "hi"'}]


def test_missing_client_header(stub, client):
    data = assert_error(post(client, body(), sender=None), 400, "client")
    assert data["errors"][0]["scope"] == "parameter"
    assert_error(post(client, body(), sender=""), 400, "client")
    assert nothing_stored(stub)


@pytest.mark.parametrize(
    "content_type",
    ["text/csv; charset=utf-8", "text/plain", "application/json; charset=utf-8", "multipart/form-data", None, ""],
)
def test_content_type_must_be_exact(shared_stub, shared_client, content_type):
    headers = {} if content_type is None else {"Content-Type": content_type}
    before = shared_stub.stats()["accepted_items"]
    r = shared_client.post("/api/waters", content=body(), headers={"client": "lab.test", **headers})
    assert_error(r, 415, "content-type")
    assert shared_stub.stats()["accepted_items"] == before


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({"Authorization": "Bearer s3cret"}, 201),
        ({"authorization": "bearer s3cret"}, 201),
        ({"x-functions-key": "s3cret"}, 201),
        ({"x-functions-key": "wrong", "Authorization": "Bearer s3cret"}, 201),
        ({}, 401),
        ({"Authorization": "Bearer wrong"}, 401),
        ({"Authorization": "Basic s3cret"}, 401),
        ({"Authorization": "s3cret"}, 401),
        ({"x-functions-key": "s3cre"}, 401),
        ({"x-functions-key": ""}, 401),
    ],
)
def test_token_with_both_header_forms(token_stub, headers, status):
    before = token_stub.stats()["accepted_items"]
    with http_client(token_stub.base_url) as client:
        r = post(client, body(), headers=headers)
    if status == 201:
        assert_receipt(r, 3)
        assert token_stub.stats()["accepted_items"] == before + 3
    else:
        assert_error(r, 401, "credentials")
        assert r.headers["www-authenticate"] == "Bearer"
        assert token_stub.stats()["accepted_items"] == before


@pytest.fixture(scope="module")
def token_stub():
    with stub_server(token="s3cret") as stub:
        yield stub


def test_token_also_guards_items_and_admin_but_not_stats_or_health():
    with stub_server(token="s3cret") as stub, http_client(stub.base_url) as client:
        assert client.get("/api/items").status_code == 401
        assert client.post("/api/admin/maintenance", json={"seconds": 5}).status_code == 401
        assert client.get("/api/stats").status_code == 200
        assert client.get("/healthz").json()["ok"] is True
        assert stub.items()["total"] == 0  # the helper sends the token


def test_body_over_the_size_limit_by_content_length():
    limit = 50 * 1000 * 1000
    big = body(1) + b"x" * (limit - len(body(1)) + 1)
    with stub_server() as stub, http_client(stub.base_url, timeout=60) as client:
        assert_error(post(client, big), 413, "larger")
        assert_receipt(post(client, body(2)), 2)  # the connection and the stub are fine afterwards
        assert stub.stats()["accepted_items"] == 2


def test_body_over_the_size_limit_when_streamed_without_length():
    def chunks():
        yield b"Result_ID\n"
        for i in range(200):
            yield f"r-{i:05d}\n".encode()

    with stub_server(max_body_bytes=1000) as stub, http_client(stub.base_url) as client:
        r = client.post("/api/waters", content=chunks(), headers={"client": "lab", "Content-Type": "text/csv"})
        assert_error(r, 413, "larger")
        assert nothing_stored(stub)


def test_more_than_10000_rows_is_413(stub, client):
    many = b"Result_ID\n" + b"".join(b"r-%d\n" % i for i in range(10_001))
    assert_error(post(client, many), 413, "10000")
    objs = "\n".join(json.dumps({"message_id": str(i)}) for i in range(10_001))
    assert_error(post(client, objs, content_type="application/x-ndjson"), 413)
    assert_error(post(client, json.dumps([{}] * 10_001), content_type="application/json"), 413)
    assert nothing_stored(stub)
    exactly = b"Result_ID\n" + b"".join(b"r-%d\n" % i for i in range(10_000))
    assert_receipt(post(client, exactly), 10_000)


@pytest.mark.parametrize(
    ("content", "content_type", "words"),
    [
        (b"", "text/csv", ["empty"]),
        (b"  \r\n\n", "text/csv", ["empty"]),
        (b"Result_ID,Name\n", "text/csv", ["no items"]),
        (b"Result_ID,Name\r\n\r\n\r\n", "text/csv", ["no items"]),
        (b"a,a\n1,2\n", "text/csv", ["more than once"]),
        (b"Result_ID\n\xff\xfe-1\n", "text/csv", ["utf-8"]),
        ("Result_ID\nJosé\n".encode("cp1252"), "text/csv", ["utf-8"]),
        (b"[]", "application/json", ["no items"]),
        (b"{not json", "application/json", ["json"]),
        (b'"just a string"', "application/json", ["array of objects"]),
        (b"[1, 2", "application/json", ["json"]),
        (b"[NaN]", "application/json", ["json"]),
        (b"[" * 100_000, "application/json", ["json"]),
        (b"\n\n", "application/x-ndjson", ["empty"]),
        (b'a,b\n"unterminated\n', "text/csv", []),
    ],
)
def test_bad_bodies_are_400_not_500(shared_stub, shared_client, content, content_type, words):
    before = shared_stub.stats()["accepted_items"]
    r = post(shared_client, content, content_type=content_type)
    if content == b'a,b\n"unterminated\n':  # csv reads this as one row with one value: an item error
        assert item_errors(assert_error(r, 400))[0]["indices"] == [1]
    else:
        data = assert_error(r, 400, *words)
        assert data["errors"][0]["scope"] == "report"
    assert shared_stub.stats()["accepted_items"] == before


def test_health(client):
    data = client.get("/healthz").json()
    assert data["ok"] is True and data["maintenance_until"] is None


def test_unknown_paths_and_methods(client):
    assert client.get("/api/waters").status_code == 405
    assert client.get("/nope").status_code == 404


def test_early_answers_reach_a_client_still_sending_a_large_batch():
    big = body(1) + b"".join(b"r-%d,x,y,z\n" % i for i in range(300_000))  # ~5 MB
    with stub_server(token="t") as stub, http_client(stub.base_url, timeout=60) as client:
        for _ in range(3):
            assert post(client, big).status_code == 401
        stub.set_maintenance(60)
        for _ in range(3):
            assert post(client, big, headers={"Authorization": "Bearer t"}).status_code == 503


def test_limits_can_be_lowered_to_exercise_a_sender_halving_its_batches():
    with stub_server(max_items=5) as stub, http_client(stub.base_url) as client:
        assert_error(post(client, body(6)), 413, "more than 5 items")
        assert_receipt(post(client, body(5)), 5)
