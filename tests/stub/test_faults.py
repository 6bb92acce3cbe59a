"""Injected faults: 500 before storing, 504 after storing (reply lost), dropped connections, latency."""

from __future__ import annotations

import time

import httpx
import pytest

from tests.helpers.stub_server import http_client, stub_server
from tests.stub.conftest import ERROR_ANSWER, assert_receipt, body, post


def _send_batches(base_url: str, n: int) -> list[int | str]:
    """n batches of 2 distinct rows, key b<i>; the status of each, or 'dropped'."""
    out: list[int | str] = []
    with http_client(base_url) as client:
        for i in range(n):
            try:
                out.append(post(client, body(2, 2 * i), key=f"b{i}").status_code)
            except httpx.RemoteProtocolError:
                out.append("dropped")
    return out


def _retry_until_answered(client: httpx.Client, i: int, attempts: int = 50) -> httpx.Response:
    for _ in range(attempts):
        r = post(client, body(2, 2 * i), key=f"b{i}")
        if r.status_code < 500:
            return r
    raise AssertionError("the stub never answered")


def test_both_kinds_of_failure_occur_and_a_504_means_stored():
    with stub_server(fail_rate=0.5, seed=1234) as stub, http_client(stub.base_url) as client:
        statuses = _send_batches(stub.base_url, 30)
        assert set(statuses) == {201, 500, 504}, statuses
        stored = {item["tracking_id"] for item in stub.all_items()}
        for i, status in enumerate(statuses):
            tids = {f"r-{2 * i}", f"r-{2 * i + 1}"}
            assert (tids <= stored) == (status in (201, 504)), (i, status)
        stats = stub.stats()
        assert stats["faults"]["fail_before"] == statuses.count(500)
        assert stats["faults"]["fail_after"] == statuses.count(504)
        assert stats["accepted_items"] == 2 * (statuses.count(201) + statuses.count(504))

        # Retrying with the same key: after a 504 the stored receipt comes back and nothing is
        # stored twice; after a 500 the batch is taken afresh.
        for i, status in enumerate(statuses):
            r = _retry_until_answered(client, i)
            receipt = assert_receipt(r, 2)
            if status == 504:
                assert r.headers["idempotent-replayed"] == "true"
            assert {it["submission_id"] for it in stub.all_items(tracking_id=f"r-{2 * i}")} == {receipt["submissionId"]}
        stats = stub.stats()
        assert (stats["accepted_items"], stats["unique_items"], stats["duplicates_received"]) == (60, 60, 0)


def test_fault_answers_are_json_error_answers():
    with stub_server(fail_rate=1.0, seed=3) as stub, http_client(stub.base_url) as client:
        seen = set()
        for i in range(12):
            r = post(client, body(1, i))
            ERROR_ANSWER.validate(r.json())
            seen.add(r.status_code)
        assert seen == {500, 504}
        assert stub.stats()["requests"] == 12


def test_the_same_seed_gives_the_same_faults():
    def run() -> list[int | str]:
        with stub_server(fail_rate=0.3, drop_rate=0.2, seed=99) as stub:
            return _send_batches(stub.base_url, 40)

    first = run()
    assert run() == first
    assert {500, 504, "dropped", 201} <= set(first)


def test_drops_close_the_connection_without_an_answer_before_or_after_storing():
    with stub_server(drop_rate=1.0, seed=5) as stub, http_client(stub.base_url) as client:
        for i in range(10):
            with pytest.raises(httpx.RemoteProtocolError):
                post(client, body(1, i), key=f"k{i}")
        stats = stub.stats()
        before, after = stats["faults"]["drop_before"], stats["faults"]["drop_after"]
        assert before + after == 10 and before > 0 and after > 0
        assert stats["by_status"] == {"dropped": 10}
        assert stats["accepted_items"] == after
        # A dropped-after request recorded its answer: its key now replays (under drops, still dropped).
        assert stats["idempotency_keys"] == after


def test_faults_never_touch_stats_items_health_or_admin():
    with stub_server(fail_rate=1.0, drop_rate=1.0, latency_ms=300, seed=1) as stub, \
            http_client(stub.base_url) as client:
        started = time.monotonic()
        for _ in range(3):
            assert client.get("/api/stats").status_code == 200
            assert client.get("/api/items").status_code == 200
            assert client.get("/healthz").status_code == 200
            assert client.get("/api/admin/maintenance").status_code == 200
        assert time.monotonic() - started < 0.3 * 10  # 12 requests: no latency added to them either
        assert stub.stats()["requests"] == 0


def test_latency_delays_every_intake_answer():
    with stub_server(latency_ms=250) as stub, http_client(stub.base_url) as client:
        started = time.monotonic()
        assert_receipt(post(client, body()), 3)
        assert post(client, body(), sender=None).status_code == 400
        assert time.monotonic() - started >= 0.5
