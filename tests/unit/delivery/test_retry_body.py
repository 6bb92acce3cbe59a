"""A retried batch goes out byte for byte as it first went, under the same key, for every format.

The body is not kept (schema 5): a retry forms it again from the batch's members in order, with the
batch's own content type (the settings may have changed since) and the moment it was formed (an HL7
batch's FHS-7/BHS-7), and it goes only if it has the digest of the body first sent. A body that
cannot be formed again exactly is never sent with other bytes under its key: its results wait for
a person.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest

from relay.delivery.wire import BUILDERS, build_csv, build_hl7, by_kind
from relay.hashing import encode_values, row_hash, sha256_text
from relay.store.models import NewItem
from relay.store.outbox import Outbox

T0 = 1_767_225_600.0
COLUMNS = ("Patient_last_name", "Result_ID", "Test_result_code")


def _rows(n: int) -> list[NewItem]:
    out = []
    for i in range(n):
        values = [f"Name, {i} \"q\"", f"id-{i}", "260415000"]
        out.append(NewItem(row_hash(COLUMNS, values), encode_values(values), f"id-{i}", COLUMNS, i + 2))
    return out


def _json(n: int) -> list[NewItem]:
    docs = [json.dumps({"Result_ID": f"j-{i}", "value": [i, "é"]}, separators=(",", ":")) for i in range(n)]
    return [NewItem(sha256_text(d), d, f"j-{i}") for i, d in enumerate(docs)]


def _hl7(n: int) -> list[NewItem]:
    msgs = [f"MSH|^~\\&|LAB|FAC|||20260101000000||ORU^R01|m{i}|P|2.5.1\rPID|1||p{i}" for i in range(n)]
    return [NewItem(sha256_text(m), m, f"m{i}", kind="hl7") for i, m in enumerate(msgs)]


def _translated(n: int) -> list[NewItem]:
    """Rows translated at ingest: the row is the payload, the ELR message its ``wire`` form."""
    return [NewItem(r.content_hash, r.payload, r.tracking_id, r.columns, r.line, kind="hl7",
                    wire=f"MSH|^~\\&|relay|FAC|||20260101000000||ORU^R01|{r.tracking_id}|P|2.5.1\rOBX|1|CE|x")
            for r in _rows(n)]


CASES = {"csv": (_rows, "csv"), "ndjson": (_json, "ndjson"), "json": (_json, "json"),
         "hl7": (_hl7, "csv"), "translated": (_translated, "csv")}


@pytest.mark.parametrize("case", list(CASES))
def test_a_retried_batch_is_the_first_send_byte_for_byte(tmp_path, case):
    make, fmt = CASES[case]
    with Outbox(tmp_path / "o.db") as box:
        box.add_items(make(5), source="t", client="c", now=T0, source_name="f.csv")
        first = box.claim(now=T0, lease_s=60, owner="s", limit=10, build=by_kind(BUILDERS[fmt]))
        assert first is not None and len(first.item_ids) == 5
        if case in ("hl7", "translated"):
            assert first.content_type == "application/hl7-v2"
            assert first.body.count(b"\rMSH|") == 5 and b"BTS|5\r" in first.body
        if case == "translated":
            assert b"OBX|1|CE|x" in first.body and b"Name" not in first.body  # the wire form went, not the row
        box.backoff(first.id, owner="s", next_at=T0 + 30, status=503, error="busy", now=T0 + 1)
        # The retry happens later, after the format was changed in the settings: the same bytes go.
        other = by_kind(BUILDERS["json" if fmt != "json" else "csv"])
        again = box.claim(now=T0 + 30, lease_s=60, owner="s", limit=10, build=other)
        assert again is not None
        assert (again.id, again.idempotency_key, again.item_ids) == (first.id, first.idempotency_key, first.item_ids)
        assert again.body == first.body and again.content_type == first.content_type


def kept_bodies(box: Outbox) -> int:
    return box.db.conn.execute("SELECT count(*) FROM batch_bodies").fetchone()[0]


def test_an_hl7_batch_formed_again_carries_the_moment_it_was_first_formed():
    """Built twice with the clock at building, the header would differ; formed again it does not."""
    items = [type("M", (), {"id": 1, "columns": None, "payload": "MSH|^~\\&|A", "kind": "hl7", "wire": None})()]
    one = build_hl7(items, now=datetime(2026, 1, 1, 0, 0, 0, tzinfo=timezone.utc))
    two = build_hl7(items, now=datetime(2026, 1, 1, 0, 0, 1, tzinfo=timezone.utc))
    assert one.body != two.body
    builder = by_kind(BUILDERS["csv"])
    first = builder.form(items, T0)
    assert b"|20260101000000+0000\r" in first.body
    assert builder.again(items, first.content_type, T0).body == first.body


@pytest.mark.parametrize("case", list(CASES))
def test_after_a_crash_the_batch_is_formed_again_with_its_key_and_bytes(tmp_path, case):
    make, fmt = CASES[case]
    build = by_kind(BUILDERS[fmt])
    with Outbox(tmp_path / "o.db") as box:
        box.add_items(make(7), source="t", client="c", now=T0, source_name="f.csv")
        first = box.claim(now=T0, lease_s=60, owner="dead", limit=10, build=build)
        assert first is not None and kept_bodies(box) == 0  # only its digest is kept
    with Outbox(tmp_path / "o.db") as box:  # the next run: the lease of the run that died runs out
        box.reclaim_expired(now=T0 + 61)
        again = box.claim(now=T0 + 61, lease_s=60, owner="next", limit=10, build=by_kind(BUILDERS["csv"]))
        assert again is not None
        assert (again.idempotency_key, again.body, again.content_type) == \
            (first.idempotency_key, first.body, first.content_type)
        assert box.get_batch(first.id, by_kind(BUILDERS["json"])).body == first.body


def test_a_body_that_cannot_be_formed_again_exactly_is_never_sent_and_waits_for_a_person(tmp_path):
    build = by_kind(BUILDERS["csv"])
    with Outbox(tmp_path / "o.db") as box:
        box.add_items(_rows(4), source="t", client="c", now=T0, source_name="f.csv")
        first = box.claim(now=T0, lease_s=60, owner="s", limit=2, build=build)
        second = box.claim(now=T0, lease_s=60, owner="s", limit=2, build=build)
        assert first is not None and second is not None
        for batch in (first, second):
            box.backoff(batch.id, owner="s", next_at=T0 + 30, status=None, error="timed out", now=T0 + 1)
        # The content of a member changed behind relay's back (an edited outbox file, say).
        box.db.conn.execute("UPDATE payloads SET payload = payload || 'x' WHERE item_id = ?", (first.item_ids[0],))
        again = box.claim(now=T0 + 30, lease_s=60, owner="s", limit=10, build=build)
        assert again is not None and again.id == second.id and again.body == second.body  # the next one went
        batch = box.get_batch(first.id)
        assert batch.state == "closed"
        for item_id in first.item_ids:
            item = box.get_item(item_id)
            assert item.state == "failed" and item.batch_id is None and item.attempts == 1
            assert "could not form this batch's body again byte for byte" in (item.last_error or "")
            assert "wait for a person" in (item.last_error or "")


def test_a_plain_builder_keeps_the_body_as_it_was(tmp_path):
    """A builder that cannot form a body again (a bare function) has its bodies kept whole."""
    with Outbox(tmp_path / "o.db") as box:
        box.add_items(_rows(3), source="t", client="c", now=T0, source_name="f.csv")
        first = box.claim(now=T0, lease_s=60, owner="s", limit=10, build=build_csv)
        assert first is not None and kept_bodies(box) == 1
        box.backoff(first.id, owner="s", next_at=T0 + 30, status=503, error="busy", now=T0 + 1)
        again = box.claim(now=T0 + 30, lease_s=60, owner="s", limit=10, build=by_kind(BUILDERS["json"]))
        assert again is not None and again.body == first.body
