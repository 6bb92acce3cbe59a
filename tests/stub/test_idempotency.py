"""Idempotency-Key: replay of the first final answer, 422 for another body, 409 while in flight."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

from tests.helpers.stub_server import http_client, stub_server
from tests.stub.conftest import assert_error, assert_receipt, body, item_errors, post


def test_replay_returns_the_first_answer_and_stores_nothing_again(stub, client):
    first = post(client, body(3), key="batch-1")
    receipt = assert_receipt(first, 3)
    assert "idempotent-replayed" not in first.headers
    again = post(client, body(3), key="batch-1")
    assert again.status_code == 201
    assert again.content == first.content
    assert again.headers["idempotent-replayed"] == "true"
    stats = stub.stats()
    assert (stats["accepted_items"], stats["duplicates_received"], stats["replays"]) == (3, 0, 1)
    assert (stats["requests"], stats["submissions"], stats["idempotency_keys"]) == (2, 1, 1)
    assert stub.items()["total"] == 3
    assert stub.all_items()[0]["submission_id"] == receipt["submissionId"]


def test_without_a_key_the_same_body_is_stored_again(stub, client):
    assert_receipt(post(client, body(2)), 2)
    assert_receipt(post(client, body(2)), 2)
    assert stub.stats()["duplicates_received"] == 2


def test_rejections_are_final_answers_too():
    with stub_server(required_columns=["Patient_middle_name"]) as stub, http_client(stub.base_url) as client:
        first = post(client, body(2), key="k")
        assert item_errors(assert_error(first, 400))
        again = post(client, body(2), key="k")
        assert (again.status_code, again.content) == (400, first.content)
        assert stub.stats()["replays"] == 1


def test_same_key_with_another_body_is_422(stub, client):
    assert_receipt(post(client, body(2), key="k"), 2)
    assert_error(post(client, body(3), key="k"), 422, "different")
    assert_error(post(client, body(2), key="k", sender="another.client"), 422)
    assert_error(post(client, body(2), key="k", content_type="application/json"), 422)
    assert post(client, body(2), key="k").status_code == 201  # the stored answer is still there
    assert stub.stats()["accepted_items"] == 2


def test_bad_keys_are_refused(stub, client):
    assert_error(post(client, body(), key="x" * 256), 400, "Idempotency-Key")
    assert_error(post(client, body(), key="tab\there"), 400, "Idempotency-Key")
    assert_receipt(post(client, body(), key="x" * 255), 3)


def test_answers_that_depend_on_the_moment_are_not_recorded():
    with stub_server(token="t") as stub, http_client(stub.base_url) as client:
        assert_error(post(client, body(2), key="k", headers={"Authorization": "Bearer wrong"}), 401)
        stub.set_maintenance(60)
        assert post(client, body(2), key="k", headers={"Authorization": "Bearer t"}).status_code == 503
        stub.set_maintenance(0)
        r = post(client, body(2), key="k", headers={"Authorization": "Bearer t"})
        assert_receipt(r, 2)
        assert "idempotent-replayed" not in r.headers


def _post_in_thread(base_url: str, key: str, results: list, n: int = 3) -> threading.Thread:
    def run() -> None:
        with http_client(base_url, timeout=30) as c:
            results.append(post(c, body(n), key=key))

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def test_409_while_the_first_request_with_the_key_is_in_flight():
    with stub_server(latency_ms=500) as stub, http_client(stub.base_url) as client:
        results: list = []
        thread = _post_in_thread(stub.base_url, "slow", results)
        stub.wait_for(lambda s: s["in_flight"] == 1)
        busy = post(client, body(3), key="slow")
        assert_error(busy, 409, "still being processed")
        assert busy.headers["retry-after"] == "1"
        thread.join()
        assert_receipt(results[0], 3)
        replay = post(client, body(3), key="slow")
        assert (replay.status_code, replay.content) == (201, results[0].content)
        stats = stub.stats()
        assert (stats["accepted_items"], stats["in_flight"], stats["by_status"]) == (3, 0, {"201": 2, "409": 1})


def test_identical_requests_at_once_are_stored_once():
    with stub_server(latency_ms=100) as stub:
        barrier = threading.Barrier(6)

        def send(_: int) -> int:
            with http_client(stub.base_url, timeout=30) as c:
                barrier.wait()
                return post(c, body(5), key="same").status_code

        with ThreadPoolExecutor(6) as pool:
            statuses = list(pool.map(send, range(6)))
        assert statuses.count(201) >= 1 and set(statuses) <= {201, 409}, statuses
        stats = stub.stats()
        assert (stats["accepted_items"], stats["submissions"], stats["duplicates_received"]) == (5, 1, 0)
        assert stats["replays"] == statuses.count(201) - 1


def test_different_keys_in_parallel_all_store():
    with stub_server() as stub:
        def send(n: int) -> int:
            with http_client(stub.base_url, timeout=30) as c:
                return post(c, body(10, n * 10), key=f"k{n}").status_code

        with ThreadPoolExecutor(4) as pool:
            assert list(pool.map(send, range(8))) == [201] * 8
        stats = stub.stats()
        assert (stats["accepted_items"], stats["unique_items"], stats["idempotency_keys"]) == (80, 80, 8)
