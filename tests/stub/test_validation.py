"""Item-scope validation (--required-columns, --reject-when, malformed rows) and --reject-duplicates."""

from __future__ import annotations

import json

from tests.helpers.stub_server import csv_body, http_client, stub_server
from tests.stub.conftest import HEADER, assert_error, assert_receipt, body, item_errors, nothing_stored, post, rows


def test_required_columns_name_the_rows_by_1_based_index_and_store_nothing():
    data = rows(5)
    data[1][1] = ""  # row 2: no last name
    data[3][1] = "   "  # row 4: blank counts as missing
    with stub_server(required_columns=["Result_ID", "Patient_last_name"]) as stub, \
            http_client(stub.base_url) as client:
        answer = assert_error(post(client, csv_body(HEADER, data)), 400, "2 of 5 items are invalid")
        [error] = item_errors(answer)
        assert error["indices"] == [2, 4]
        assert error["trackingIds"] == ["r-1", "r-3"]
        assert error["field"] == "Patient_last_name"
        assert "required" in error["message"]
        assert answer["reportItemCount"] == 5
        assert nothing_stored(stub)
        assert stub.stats()["rejected_requests"] == 1
        assert_receipt(post(client, body(5)), 5)  # the same rows, complete, are taken


def test_required_column_absent_from_the_header_makes_every_row_invalid():
    with stub_server(required_columns=["accession_number"]) as stub, http_client(stub.base_url) as client:
        [error] = item_errors(assert_error(post(client, body(3)), 400))
        assert error["indices"] == [1, 2, 3] and error["field"] == "accession_number"


def test_reject_when_hooks_and_several_kinds_of_error_at_once():
    data = rows(6)
    data[0][3] = "REJECT-ME"
    data[4][3] = "please REJECT-ME too"
    data[2] = data[2][:3]  # row 3 has a value missing: malformed
    data[5][2] = "Zed"
    with stub_server(reject_when=["Test_result_code=REJECT", "Patient_first_name=^Z"]) as stub, \
            http_client(stub.base_url) as client:
        answer = assert_error(post(client, csv_body(HEADER, data)), 400)
        by_field = {(e["field"], tuple(e["indices"])) for e in item_errors(answer)}
        assert by_field == {("Test_result_code", (1, 5)), (None, (3,)), ("Patient_first_name", (6,))}
        assert answer["errorCount"] == 3
        assert "REJECT-ME" not in json.dumps(answer)  # values are never echoed back
        assert nothing_stored(stub)


def test_json_items_are_validated_too():
    items = [{"message_id": "a", "last": "x"}, {"message_id": "b"}, "not an object", {"message_id": "c", "last": ""}]
    with stub_server(required_columns=["last"]) as stub, http_client(stub.base_url) as client:
        answer = assert_error(post(client, json.dumps(items), content_type="application/json"), 400)
        found = {(e["message"].split()[0], tuple(e["indices"]), tuple(e["trackingIds"])) for e in item_errors(answer)}
        assert found == {("Missing", (2, 4), ("b", "c")), ("Item", (3,), (None,))}
        ndjson = '{"message_id": "a", "last": "x"}\n{broken\n'
        [error] = item_errors(assert_error(post(client, ndjson, content_type="application/x-ndjson"), 400))
        assert error["indices"] == [2] and "not valid JSON" in error["message"]
        assert nothing_stored(stub)


def test_malformed_rows_are_item_errors_without_any_option(stub, client):
    text = b"Result_ID,a,b\nr-1,1,2\nr-2,1\nr-3,1,2,3\n"
    answer = assert_error(post(client, text), 400)
    assert sorted(i for e in item_errors(answer) for i in e["indices"]) == [2, 3]
    assert nothing_stored(stub)


def test_duplicates_are_stored_and_counted_by_default(stub, client):
    assert_receipt(post(client, body(3)), 3)
    receipt = assert_receipt(post(client, body(4)), 4)  # rows 1-3 again, plus one new
    assert receipt["duplicateCount"] == 3
    [warning] = receipt["warnings"]
    assert warning["indices"] == [1, 2, 3] and warning["trackingIds"] == ["r-0", "r-1", "r-2"]
    stats = stub.stats()
    assert (stats["accepted_items"], stats["unique_items"], stats["duplicates_received"]) == (7, 4, 3)
    assert [i["duplicate"] for i in stub.all_items()] == [False] * 3 + [True] * 3 + [False]


def test_whitespace_and_column_order_do_not_make_a_row_new(stub, client):
    assert_receipt(post(client, b"Result_ID,name\nr-1,Ann\n"), 1)
    receipt = assert_receipt(post(client, b" name , Result_ID\n  Ann ,r-1 \n"), 1)
    assert receipt["duplicateCount"] == 1
    receipt = assert_receipt(post(client, json.dumps({"Result_ID": "r-1", "name": " Ann"}),
                                  content_type="application/json"), 1)
    assert receipt["duplicateCount"] == 1
    assert stub.stats()["unique_items"] == 1


def test_reject_duplicates_refuses_a_request_of_only_duplicates():
    with stub_server(reject_duplicates=True) as stub, http_client(stub.base_url) as client:
        assert_receipt(post(client, body(3)), 3)
        answer = assert_error(post(client, body(3)), 400)
        assert answer["message"] == "All items in this submission are duplicates"
        assert answer["errors"][0]["scope"] == "report"
        assert "indices" not in answer["errors"][0]  # it names no item: none is bad
        partly_new = assert_receipt(post(client, body(4)), 4)  # not *all* duplicates: stored
        assert partly_new["duplicateCount"] == 3
        stats = stub.stats()
        assert (stats["accepted_items"], stats["unique_items"], stats["duplicates_received"]) == (7, 4, 6)
        assert stats["submissions"] == 2


def test_reject_duplicates_counts_repeats_within_one_new_request_as_new():
    with stub_server(reject_duplicates=True) as stub, http_client(stub.base_url) as client:
        twice = csv_body(HEADER, rows(1) + rows(1))
        receipt = assert_receipt(post(client, twice), 2)
        assert receipt["duplicateCount"] == 1
        assert stub.stats()["unique_items"] == 1
