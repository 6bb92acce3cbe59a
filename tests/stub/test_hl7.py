"""The stub takes application/hl7-v2 batches and counts messages by the §8 content hash, the same
hash the agent computes (the stub computes it with its own code)."""

from __future__ import annotations

from relay import samples_hl7
from relay.delivery.wire import build_hl7
from relay.formats.hl7 import read_hl7_bytes
from relay.store.models import Member
from server_stub.hl7 import parse_hl7
from tests.stub.conftest import post

HL7 = "application/hl7-v2"


def relay_hashes(text: str) -> list[str]:
    return [r.item.content_hash for r in read_hl7_bytes(text.encode())[1]]  # type: ignore[union-attr]


def test_the_stub_hashes_messages_as_relay_does():
    odd = ("MSH#!$\\%#LAB#FAC#RS#RSF#20240101##ORU!R01#C-1#P#2.5.1\rPID#1##12!!!X!MR##Doe!Jane!!##19800101#F!!#")
    texts = [samples_hl7.message(n, seed=4) for n in range(10)] + [odd]
    body = samples_hl7.batch(texts)
    stub_batch = parse_hl7(body.encode(), 10_000)
    assert [i.content_hash for i in stub_batch.items] == relay_hashes(body)
    assert stub_batch.items[0].tracking_id == "4-0" and stub_batch.count == 11


def test_hl7_batches_are_counted_by_message_and_resends_are_duplicates(stub, client):
    first = build_hl7([Member(n, None, samples_hl7.message(n), "hl7") for n in range(3)])
    assert first.body.startswith(b"FHS|^~\\&|relay") and first.body.endswith(b"BTS|3\rFTS|1\r")
    answer = post(client, first.body, content_type=HL7)
    assert answer.status_code == 201, answer.text
    assert answer.json()["reportItemCount"] == 3
    again = build_hl7([Member(9, None, samples_hl7.message(1, control_id="new-id"), "hl7")])
    assert post(client, again.body, content_type=HL7).status_code == 201
    stats = stub.stats()
    assert (stats["accepted_items"], stats["unique_items"], stats["duplicates_received"]) == (4, 3, 1)


def test_text_before_the_first_message_is_refused(client):
    answer = post(client, b"hello\rMSH|^~\\&|A", content_type=HL7)
    assert answer.status_code == 400 and "before its first MSH" in answer.text
