"""GET /api/stats, GET /api/items (paging, filters, rows as sent) and the JSON access log."""

from __future__ import annotations

import hashlib
import json
import re

import pytest

from tests.helpers.stub_server import csv_body, http_client, stub_server
from tests.stub.conftest import HEADER, STATS, assert_receipt, body, post, rows


def spec_hash(header, values) -> str:
    mapping = {name.strip(): value.strip() for name, value in zip(header, values)}
    text = json.dumps(mapping, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def test_stats_on_a_fresh_stub_and_after_traffic(stub, client):
    fresh = stub.stats()
    STATS.validate(fresh)
    assert fresh["requests"] == fresh["accepted_items"] == fresh["unique_items"] == 0
    assert fresh["by_status"] == {} and fresh["items_by_client"] == {}

    assert_receipt(post(client, body(4)), 4)
    assert_receipt(post(client, body(2), sender="other.lab", path="/api/reports"), 2)
    post(client, body(1), sender=None)
    post(client, body(1), content_type="text/plain")
    stats = stub.stats()
    STATS.validate(stats)
    assert stats["requests"] == 4
    assert (stats["accepted_items"], stats["unique_items"], stats["duplicates_received"]) == (6, 4, 2)
    assert stats["by_status"] == {"201": 2, "400": 1, "415": 1}
    assert stats["rejected_requests"] == 2
    assert stats["items_by_client"] == {"lab.test": 4, "other.lab": 2}
    assert stats["submissions"] == 2
    client.get("/api/stats")
    client.get("/healthz")
    assert stub.stats()["requests"] == 4  # only intake POSTs count


def test_items_pages_and_fields(stub, client):
    assert_receipt(post(client, body(15), headers={"payloadname": "a.csv"}), 15)
    assert_receipt(post(client, body(10, 15), sender="second"), 10)
    first = stub.items(limit=10)
    assert (first["total"], first["offset"], first["limit"], first["next_offset"]) == (25, 0, 10, 10)
    item = first["items"][0]
    assert set(item) == {"id", "submission_id", "client", "content_hash", "tracking_id", "received_at",
                         "index", "duplicate", "row"}
    assert item["row"] == dict(zip(HEADER, rows(1)[0]))
    assert item["content_hash"] == spec_hash(HEADER, rows(1)[0])
    assert item["tracking_id"] == "r-0" and item["index"] == 1 and item["client"] == "lab.test"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", item["received_at"])
    third = stub.items(offset=20, limit=10)
    assert third["next_offset"] is None
    assert [i["tracking_id"] for i in third["items"]] == [f"r-{n}" for n in range(20, 25)]
    assert third["items"][-1]["client"] == "second" and third["items"][-1]["index"] == 10
    every = stub.all_items()
    assert [i["id"] for i in every] == sorted(i["id"] for i in every) and len(every) == 25
    assert [i["tracking_id"] for i in stub.all_items(tracking_id="r-17")] == ["r-17"]
    assert len(stub.all_items(submission_id=every[-1]["submission_id"])) == 10
    assert stub.items(offset=100)["items"] == []


@pytest.mark.parametrize(
    "query", ["limit=0", "limit=1001", "offset=-1", "limit=ten", "offset=1.5", "submission_id=x"]
)
def test_items_refuses_bad_paging(shared_client, query):
    r = shared_client.get(f"/api/items?{query}")
    assert r.status_code == 400 and "limit" in r.json()["message"]


def test_items_limit_1000_is_allowed(stub, client):
    assert_receipt(post(client, body(1001)), 1001)
    page = stub.items(limit=1000)
    assert len(page["items"]) == 1000 and page["next_offset"] == 1000


def test_access_log_has_one_json_line_per_request_and_no_row_contents(tmp_path):
    log = tmp_path / "access.log"
    with stub_server(log=str(log)) as stub, http_client(stub.base_url) as client:
        post(client, csv_body(HEADER, [["r-1", "Sensitive-Surname", "Ann", "x"]]), key="key-1")
        post(client, b"junk", content_type="text/plain")
        client.get("/api/stats")
        client.get("/api/items")
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    assert [(entry["method"], entry["path"], entry["status"]) for entry in lines] == [
        ("POST", "/api/waters", 201), ("POST", "/api/waters", 415), ("GET", "/api/stats", 200),
        ("GET", "/api/items", 200),
    ]
    first = lines[0]
    assert first["idempotency_key"] == "key-1" and first["items"] == 1 and first["client"] == "lab.test"
    assert first["latency_ms"] >= 0 and first["time"].endswith("Z")
    assert "Sensitive-Surname" not in log.read_text()
