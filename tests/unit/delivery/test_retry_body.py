"""A retried batch goes out byte for byte as it first went, under the same key, for every format.

The body is kept with the batch (schema 2) rather than rebuilt from its members: an HL7 batch's
FHS-7/BHS-7 carry the time it was built, and every body depends on the sender's settings when it
was formed (intake.format, the body size limit), which may change before the retry.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest

from relay.delivery.wire import BUILDERS, build_hl7, by_kind
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


def test_rebuilding_an_hl7_batch_later_would_not_be_the_same_bytes():
    """Why the body is kept: the batch header carries the time it was built."""
    items = [type("M", (), {"id": 1, "columns": None, "payload": "MSH|^~\\&|A", "kind": "hl7", "wire": None})()]
    one = build_hl7(items, now=datetime(2026, 1, 1, 0, 0, 0, tzinfo=timezone.utc))
    two = build_hl7(items, now=datetime(2026, 1, 1, 0, 0, 1, tzinfo=timezone.utc))
    assert one.body != two.body
