"""End to end, CSV folder -> ELR -> AIMS-style S3: SimpleReport exports dropped into a watched folder
while `relay run` (default intake.format, [translate] on, the stored secret in RELAY_TOKEN) is
SIGKILLed a few times, each time while an upload is held unanswered (the store then keeps it: the
answer is lost, not the object); moto's S3 server on loopback, read back with boto3. Every row lands exactly
once (counted by MSH-10 across the objects), in `.hl7` objects named and tagged per the AIMS
template of INTERFACE §9."""

from __future__ import annotations

import re
from collections import Counter

import boto3
import pytest

from tests.destinations.s3_peers import GatedMotoServer
from tests.helpers.waiting import wait_until
from tests.integration.e2e_support import (
    AIMS_NAME,
    TRANSLATE,
    control_ids,
    drop_exports,
    kill,
    start_relay,
    stop,
    write_config,
)

SECRET = "moto-secret-key"
PREFIX = "lab-one/SendTo/"
ROUNDS, FILES, ROWS = 3, 2, 50


@pytest.fixture
def s3():
    server = GatedMotoServer()
    url = server.start()
    client = boto3.client("s3", endpoint_url=url, region_name="us-east-1", aws_access_key_id="AKIDRELAYTEST",
                          aws_secret_access_key=SECRET)
    client.create_bucket(Bucket="aims")
    yield server, url, client
    client.close()
    server.stop()


def objects(client) -> list[dict]:
    pages = client.get_paginator("list_objects_v2").paginate(Bucket="aims", Prefix=PREFIX)
    return [obj for page in pages for obj in page.get("Contents", [])]


def delivered(client) -> Counter[str]:
    ids: Counter[str] = Counter()
    for obj in objects(client):
        ids.update(control_ids(client.get_object(Bucket="aims", Key=obj["Key"])["Body"].read()))
    return ids


@pytest.mark.slow
def test_csv_rows_reach_aims_s3_once_each_through_sigkills(tmp_path, s3):
    gate, url, client = s3
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    cfg = write_config(tmp_path, f'''
[intake]
url = "s3://aims/{PREFIX.rstrip("/")}"
sender = "lab-sender"
env = "Prod"
batch_max_items = 20
timeout_s = 10
[intake.s3]
region = "us-east-1"
endpoint_url = "{url}"
access_key_id = "AKIDRELAYTEST"
name_template = "{AIMS_NAME}"
[intake.s3.metadata]
AIMSPlatformSender = "{{sender}}"
AIMSPlatformFilename = "{{name}}"
AIMSPlatformSenderMessageId = "{{key}}"
AIMSPlatformSenderProtocol = "S3"
{TRANSLATE}
[[watch]]
folder = "inbox"
settle_s = 0
''')
    expected: list[str] = []
    for round_no in range(ROUNDS):
        gate.hold_after(1)  # one upload goes through, the next is held until relay is killed
        held = len(gate.held)
        proc = start_relay(tmp_path, cfg, token=SECRET)
        try:
            expected += drop_exports(tmp_path, inbox, round_no * FILES * ROWS, FILES, ROWS)
            wait_until(lambda: len(gate.held) > held or proc.poll() is not None, timeout=60)
            assert proc.poll() is None, (tmp_path / "relay.log").read_text()
        finally:
            kill(proc)
            gate.release()
        assert sum(delivered(client).values()) < len(expected), f"round {round_no} was not cut short"

    proc = start_relay(tmp_path, cfg, token=SECRET)
    try:
        wait_until(lambda: sum(delivered(client).values()) >= len(expected), timeout=90)
    finally:
        assert stop(proc) == 0

    got = delivered(client)
    assert all(gate.puts.count(path) >= 2 for path in gate.held), "a held upload was not sent again"
    assert set(got) == set(expected) and len(expected) == ROUNDS * FILES * ROWS
    assert max(got.values()) == 1, "a row reached the bucket twice"
    name = re.compile(r"InterPartner~ExpandedELR~lab-sender~AIMSPlatform~Prod~Prod~\d{17}~STOP~([0-9a-f-]{36})\.hl7")
    for obj in objects(client):
        short = obj["Key"][len(PREFIX):]
        match = name.fullmatch(short)
        assert match, short
        head = client.head_object(Bucket="aims", Key=obj["Key"])
        assert head["ContentType"] == "application/hl7-v2"
        assert head["Metadata"] == {"aimsplatformsender": "lab-sender", "aimsplatformfilename": short,
                                    "aimsplatformsendermessageid": match.group(1),
                                    "aimsplatformsenderprotocol": "S3"}
        body = client.get_object(Bucket="aims", Key=obj["Key"])["Body"].read()
        assert body.startswith(b"FHS|") and b"MSH|^~\\&|relay^2.16.840.1.113883.3.9999^ISO|" in body
