"""The local listener over real HTTP on 127.0.0.1, with a real outbox in tmp_path."""

from __future__ import annotations

import json
import logging
import socket
import threading
import time

import httpx
import pytest

from relay.clock import FakeClock
from relay.errors import EnvironmentProblem
from relay.hashing import decode_values, row_hash
from relay.ingest.listener import Listener, is_loopback
from relay.store.outbox import Outbox
from relay.status import read_status, snapshot
from tests.helpers.builders import csv_build
from tests.unit.ingest.listener_support import config, running, wait_until

RESULT = {"Result_ID": "r-1", "Patient_last_name": "Peña", "Test_result_code": "260415000"}


@pytest.fixture
def rig(tmp_path):
    with running(tmp_path) as r:
        yield r


@pytest.fixture(scope="module")
def shared(tmp_path_factory):
    """One listener for the many small refusal cases (each checks that it stored nothing)."""
    with running(tmp_path_factory.mktemp("shared")) as r:
        assert r.post(json.dumps(RESULT)).json()["ids"] == [1]
        yield r


# -- 202 / 200 -----------------------------------------------------------------------------------------


def test_one_json_result_is_stored_durably_before_202(rig):
    r = rig.post(json.dumps(RESULT), payloadname="orders-0415.json")
    assert r.status_code == 202
    assert r.json() == {"ids": [1], "duplicates": 0}
    item = rig.outbox.get_item(1)
    assert item is not None and item.state == "pending"
    assert (item.source, item.client, item.source_name) == ("listener", "lab.one", "orders-0415.json")
    assert item.columns == tuple(sorted(RESULT))  # stored like a CSV row: canonical column order
    assert dict(zip(item.columns, decode_values(item.payload))) == RESULT
    assert item.tracking_id == "r-1"
    assert item.content_hash == row_hash(RESULT.keys(), RESULT.values())
    assert rig.notified  # the sender was woken
    # durable: another connection to the same file sees it
    with Outbox(rig.outbox.path, check=False) as other:
        assert other.get_item(1) is not None


def test_array_ndjson_and_csv_bodies(rig):
    two = [{**RESULT, "Result_ID": "a"}, {**RESULT, "Result_ID": "b"}]
    assert rig.post(json.dumps(two)).json() == {"ids": [1, 2], "duplicates": 0}
    lines = "\n".join(json.dumps({**RESULT, "Result_ID": f"n{i}"}) for i in range(3)) + "\n\n"
    r = rig.post(lines, "application/x-ndjson")
    assert (r.status_code, r.json()) == (202, {"ids": [3, 4, 5], "duplicates": 0})
    r = rig.post("Result_ID,Patient_last_name\r\nc1,Smith\r\nc2,Nguyen\r\n", "text/csv")
    assert (r.status_code, r.json()) == (202, {"ids": [6, 7], "duplicates": 0})
    assert [rig.outbox.get_item(i).line for i in (3, 6, 7)] == [1, 2, 3]
    assert [rig.outbox.get_item(i).tracking_id for i in (1, 2, 6)] == ["a", "b", "c1"]


def test_content_type_parameters_are_fine(rig):
    r = rig.post(json.dumps(RESULT), "Application/JSON; charset=UTF-8")
    assert r.status_code == 202
    r = rig.post("Result_ID,b\nx,y\n", "text/csv; charset=windows-1252; header=present")
    assert r.status_code == 202


def test_all_duplicates_answer_200_with_the_existing_ids(rig):
    first = rig.post(json.dumps([RESULT, {**RESULT, "Result_ID": "r-2"}])).json()["ids"]
    again = rig.post(json.dumps([{**RESULT, "Result_ID": "r-2"}, RESULT]))
    assert again.status_code == 200
    assert again.json() == {"ids": [first[1], first[0]], "duplicates": 2}
    mixed = rig.post(json.dumps([RESULT, {**RESULT, "Result_ID": "r-3"}]))
    assert mixed.status_code == 202
    assert mixed.json() == {"ids": [first[0], 3], "duplicates": 1}


def test_a_csv_row_and_the_same_json_object_are_one_result(rig):
    rig.post("Test_result_code,Result_ID,Patient_last_name\n260415000,r-1,Peña\n", "text/csv")
    r = rig.post(json.dumps(RESULT))
    assert (r.status_code, r.json()) == (200, {"ids": [1], "duplicates": 1})


def test_numbers_become_text_when_the_intake_takes_csv(rig):
    r = rig.post(json.dumps({"Result_ID": 7, "Positive": True, "Note": None}))
    assert r.status_code == 202
    item = rig.outbox.get_item(r.json()["ids"][0])
    assert dict(zip(item.columns, decode_values(item.payload))) == {"Result_ID": "7", "Positive": "true", "Note": ""}
    assert item.tracking_id == "7"


def test_nested_documents_when_the_intake_takes_json(tmp_path):
    with running(tmp_path, intake_format="json") as rig:
        r = rig.post(json.dumps({"Result_ID": "x", "patient": {"name": "A", "tests": [1, 2]}}))
        assert r.status_code == 202
        item = rig.outbox.get_item(r.json()["ids"][0])
        assert item.columns is None
        assert item.payload == '{"Result_ID":"x","patient":{"name":"A","tests":[1,2]}}'


# -- refusals -------------------------------------------------------------------------------------------

BAD_BODIES = [
    pytest.param("application/json", b"", "the body is empty", id="empty"),
    pytest.param("application/json", b"{not json", "not valid JSON", id="garbage"),
    pytest.param("application/json", b'{"a": NaN}', "field 'a' is NaN", id="nan"),
    pytest.param("application/json", b'{"a": "1", "a": "2"}', "the field name 'a' appears twice", id="dup-key"),
    pytest.param("application/json", b'\xef\xbb\xbf{"a": "1"}', "byte order mark", id="bom"),
    pytest.param("application/json", b'{"a": "\xff"}', "not UTF-8", id="not-utf8"),
    pytest.param("application/json", b"[]", "empty array", id="empty-array"),
    pytest.param("application/json", b'[{"a": "1"}, 5]', "item 2 is a number", id="not-object"),
    pytest.param("application/json", b'[{"a": "1"}, {"b": "2"}, {"address": {"street": "x"}}]',
                 "item 3: field 'address' is an object; the intake takes CSV, so values must be plain text or numbers",
                 id="nested-for-csv"),
    pytest.param("application/x-ndjson", b'{"a": "1"}\n\n{"a": \n', "line 3: not valid JSON", id="ndjson-line"),
    pytest.param("text/csv", b"Result_ID,b\nr1,x\nr2,y,z\nr3\n",
                 "2 rows could not be used, so nothing was stored: line 3: 3 fields, header has 2; "
                 "line 4: 1 field, header has 2", id="csv-bad-rows"),
    pytest.param("text/csv", b"Result_ID,b\n", "header but no data rows", id="csv-no-rows"),
    pytest.param("text/csv", b"\x00\x01\x02\x03binary\x00", "", id="csv-binary"),
]


@pytest.mark.parametrize(("content_type", "body", "message"), BAD_BODIES)
def test_bad_input_is_400_with_a_message_and_nothing_stored(shared, content_type, body, message):
    before = shared.count()
    r = shared.post(body, content_type)
    assert r.status_code == 400
    assert message in r.json()["error"]
    assert shared.count() == before


@pytest.mark.parametrize("name", ["x" * 256, "caf\u00e9.csv", "tab\there"])
def test_a_bad_payloadname_header_is_400(shared, name):
    before = shared.count()
    r = shared.http.post("/v1/results", content=json.dumps({"Result_ID": "named"}).encode(),
                         headers=[(b"content-type", b"application/json"), (b"payloadname", name.encode("latin-1"))])
    assert r.status_code == 400
    assert "payloadname" in r.json()["error"]
    assert shared.count() == before


@pytest.mark.parametrize("content_type", [None, "text/plain", "application/xml", "application/json; charset=latin-1",
                                          "multipart/form-data; boundary=x"])
def test_unsupported_content_type_is_415(shared, content_type):
    before = shared.count()
    headers = {"content-type": content_type} if content_type else {}
    r = shared.http.post("/v1/results", content=json.dumps({"Result_ID": "typed"}).encode(), headers=headers)
    assert r.status_code == 415
    assert "application/json" in r.json()["error"] or "UTF-8" in r.json()["error"]
    assert shared.count() == before


def test_413_by_content_length_is_answered_without_reading_the_body(tmp_path):
    with running(tmp_path, max_body_bytes=2048) as rig:
        # Declares 10 GB and sends none of it: the answer can only come from the header.
        with socket.create_connection(("127.0.0.1", rig.listener.port), timeout=10) as sock:
            sock.sendall(b"POST /v1/results HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                         b"Content-Length: 10000000000\r\n\r\n")
            answer = b""
            while chunk := sock.recv(4096):  # the listener closes the connection after answering
                answer += chunk
        assert answer.startswith(b"HTTP/1.1 413 ")
        assert b"2,048 bytes" in answer
        r = rig.post(b'{"Result_ID": "' + b"x" * 3000 + b'"}')
        assert r.status_code == 413
        assert rig.count() == 0
        exact = b'{"Result_ID": "' + b"x" * (2048 - 17) + b'"}'
        assert len(exact) == 2048
        assert rig.post(exact).status_code == 202


def test_413_for_a_chunked_stream_without_content_length(tmp_path):
    with running(tmp_path, max_body_bytes=2048) as rig:
        sent: list[int] = []

        def chunks():
            for _ in range(4):
                sent.append(1000)
                yield b" " * 1000

        r = rig.http.post("/v1/results", content=chunks(), headers={"content-type": "application/json"})
        assert "content-length" not in r.request.headers
        assert r.request.headers["transfer-encoding"] == "chunked"
        assert r.status_code == 413
        assert rig.count() == 0
        # a chunked body within the limit is fine
        ok = rig.http.post("/v1/results", content=iter([b'{"Result_ID":', b' "c"}']),
                           headers={"content-type": "application/json"})
        assert ok.status_code == 202


def test_token_when_configured(tmp_path):
    token = "s3cret-token-0123456789"
    with running(tmp_path, token=token) as rig:
        for headers in ({}, {"authorization": "Bearer wrong"}, {"authorization": f"Basic {token}"},
                        {"authorization": "Bearer"}, {"authorization": f"Bearer {token}x"}):
            r = rig.http.post("/v1/results", content=json.dumps(RESULT).encode(),
                              headers={"content-type": "application/json", **headers})
            assert r.status_code == 401
            assert r.headers["www-authenticate"].startswith("Bearer")
            assert "Authorization: Bearer" in r.json()["error"]
        assert rig.http.get("/healthz").status_code == 401
        assert rig.count() == 0
        good = {"authorization": f"bearer {token}"}
        r = rig.post(json.dumps(RESULT), **good)
        assert r.status_code == 202
        assert rig.http.get("/v1/results/1", headers=good).status_code == 200


def test_no_token_configured_needs_no_header(rig):
    r = rig.post(json.dumps(RESULT), authorization="Bearer anything")
    assert r.status_code == 202


def test_full_outbox_is_503_and_loses_nothing_acknowledged(rig):
    with rig.outbox.db.lock:
        pages = rig.outbox.db.conn.execute("PRAGMA page_count").fetchone()[0]
        rig.outbox.db.conn.execute(f"PRAGMA max_page_count = {pages + 4}")
    acknowledged: dict[int, str] = {}
    refused = None
    for n in range(100):
        body = json.dumps({"Result_ID": f"r{n}", "Note": "x" * 3000})
        r = rig.post(body)
        if r.status_code == 503:
            refused = body
            break
        assert r.status_code == 202
        acknowledged[r.json()["ids"][0]] = f"r{n}"
    assert refused is not None and acknowledged
    assert r.headers["retry-after"].isdigit()
    assert "disk is full" in r.json()["error"] and "nothing was stored" in r.json()["error"]
    assert rig.count() == len(acknowledged)
    for item_id, tracking in acknowledged.items():
        assert rig.outbox.get_item(item_id).tracking_id == tracking
    assert rig.post(refused).status_code == 503  # still full: still refused, still nothing half-stored
    assert rig.count() == len(acknowledged)
    with rig.outbox.db.lock:
        rig.outbox.db.conn.execute("PRAGMA max_page_count = 1073741823")
    r = rig.post(refused)
    assert r.status_code == 202
    assert rig.count() == len(acknowledged) + 1


# -- reading back ---------------------------------------------------------------------------------------


def test_get_result_by_id(rig):
    rig.post(json.dumps(RESULT))
    r = rig.http.get("/v1/results/1")
    assert r.status_code == 200
    assert r.json() == {"id": 1, "state": "pending", "attempts": 0, "last_error": None, "receipt": None,
                        "tracking_id": "r-1", "received_at": "2026-01-01T00:00:00+00:00", "sent_at": None}


@pytest.mark.parametrize(("path", "status"), [
    ("/v1/results/999", 404), ("/v1/results/0", 404), ("/v1/results/99999999999999999999999", 404),
    ("/v1/results/" + "9" * 5000, 404), ("/v1/results/9223372036854775808", 404), ("/v1/results/0001", 200),
    ("/v1/results/abc", 400), ("/v1/results/-1", 400), ("/v1/results/1.5", 400), ("/v1/results/%201", 400),
    ("/v1/results/1?wait=0", 400), ("/v1/results/1?wait=-1", 400), ("/v1/results/1?wait=31", 400),
    ("/v1/results/1?wait=abc", 400), ("/v1/results/1?wait=nan", 400), ("/v1/results/1?wait=inf", 400),
])
def test_get_result_refusals_and_odd_ids(shared, path, status):
    r = shared.http.get(path)
    assert r.status_code == status
    assert r.json()["error" if status != 200 else "id"]


def test_wait_holds_until_the_time_is_up(rig):
    rig.post(json.dumps(RESULT))
    started = time.monotonic()
    r = rig.http.get("/v1/results/1", params={"wait": "0.4"})
    assert time.monotonic() - started >= 0.4
    assert r.json()["state"] == "pending"


class ReadCountingOutbox(Outbox):
    """The real outbox, counting reads of single items (to know when a waiting GET is waiting)."""

    reads = 0

    def get_item(self, item_id):
        self.reads += 1
        return super().get_item(item_id)


def test_wait_ends_when_another_thread_marks_the_item_sent(tmp_path):
    box = ReadCountingOutbox(tmp_path / "outbox.db")
    with running(tmp_path, outbox=box) as rig:
        rig.post(json.dumps(RESULT))
        answers: list[httpx.Response] = []
        getter = threading.Thread(target=lambda: answers.append(rig.http.get("/v1/results/1?wait=25")))
        started = time.monotonic()
        getter.start()
        wait_until(lambda: box.reads >= 2)  # it looked, found "pending", and is polling
        now = rig.clock.now()
        batch = box.claim(now=now + 1, lease_s=60, owner="test", limit=10, build=csv_build)
        box.complete(batch.id, owner="test", receipt="receipt-77", status=201, now=now + 2)
        getter.join(10)
        assert not getter.is_alive()
        assert time.monotonic() - started < 10
        body = answers[0].json()
        assert (body["state"], body["receipt"], body["attempts"]) == ("sent", "receipt-77", 1)
        assert body["sent_at"] == "2026-01-01T00:00:02+00:00"


def test_healthz_is_the_status_object(rig):
    rig.post(json.dumps(RESULT))
    rig.post(json.dumps(RESULT))
    r = rig.http.get("/healthz")
    assert r.status_code == 200
    assert r.json() == snapshot(rig.outbox, (), rig.clock.now())
    assert (r.json()["pending"], r.json()["duplicates"]) == (1, 1)


@pytest.mark.parametrize(("method", "path", "status"), [
    ("GET", "/", 404), ("GET", "/v1/other", 404), ("POST", "/healthz", 405), ("PUT", "/v1/results", 405),
    ("DELETE", "/v1/results/1", 405), ("GET", "/v1/results", 405),
])
def test_unknown_paths_and_methods_are_json_errors(shared, method, path, status):
    r = shared.http.request(method, path)
    assert r.status_code == status
    assert r.headers["content-type"] == "application/json"
    assert r.json()["error"]


# -- lifecycle and habits ---------------------------------------------------------------------------


def test_a_port_in_use_is_a_plain_error(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        box = Outbox(tmp_path / "o.db")
        listener = Listener(box, config(port=port), intake_format="csv", client="c", clock=FakeClock(),
                            notify=lambda: None, status=lambda: read_status(box, (), 0.0))
        with pytest.raises(EnvironmentProblem, match=f"port {port} on 127.0.0.1 is already in use"):
            listener.start()
        box.close()


def test_stop_is_prompt_even_with_a_waiting_reader_and_open_connections(tmp_path):
    box = ReadCountingOutbox(tmp_path / "outbox.db")
    with running(tmp_path, outbox=box) as rig:
        rig.post(json.dumps(RESULT))  # leaves a keep-alive connection open
        answers: list[httpx.Response] = []
        reader = threading.Thread(target=lambda: answers.append(
            httpx.get(f"{rig.listener.url}/v1/results/1?wait=30", timeout=30)))
        reader.start()
        wait_until(lambda: box.reads >= 2)
        started = time.monotonic()
        rig.listener.stop()
        assert time.monotonic() - started < 3
        reader.join(5)
        assert answers and answers[0].json()["state"] == "pending"
        with pytest.raises(httpx.TransportError):
            httpx.get(f"{rig.listener.url}/healthz", timeout=2)


def test_loopback_addresses():
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("127.8.9.1")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.4") and not is_loopback("::")


def test_logs_name_ids_never_content(rig, caplog):
    caplog.set_level(logging.DEBUG, logger="relay")
    rig.post(json.dumps({**RESULT, "Patient_last_name": "Zebediah-Unique"}))
    rig.post(b'{"Patient_last_name": "Zebediah-Unique", "x": {"y": 1}}')
    rig.post(b"Patient_last_name,b\nZebediah-Unique,1,2\n", "text/csv")
    assert "listener:" in caplog.text
    assert "Zebediah" not in caplog.text
