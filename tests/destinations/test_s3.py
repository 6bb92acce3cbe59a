"""s3:// against real S3 servers on loopback: moto's (objects read back with boto3) and a store
that answers with chosen errors. No part of the transport is mocked."""

from __future__ import annotations

import hashlib
import json

import boto3
import pytest
from moto.core.authorization import enable_iam_authentication
from moto.server import ThreadedMotoServer

from relay.delivery.destinations import open_destination
from relay.errors import ConfigError
from tests.destinations.s3_peers import failing_store
from tests.destinations.support import make_batch, make_config, make_context, no_tracking

KEY_ID, SECRET = "testing", "testing"
BODY = b"Result_ID,Test_result_code\r\nr-1,260415000\r\nr-2,260373001\r\n"
HL7 = b"FHS|^~\\&|relay\rBHS|^~\\&|relay\rMSH|^~\\&|relay|lab||AIMS|20260101||ORU^R01|m1|P|2.5.1\rBTS|1\rFTS|1\r"


@pytest.fixture(scope="module")
def moto_url():
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


def aws(moto_url, service, key=KEY_ID, secret=SECRET):
    return boto3.client(service, endpoint_url=moto_url, region_name="us-east-1", aws_access_key_id=key,
                        aws_secret_access_key=secret)


@pytest.fixture(scope="module")
def bucket(moto_url):
    aws(moto_url, "s3").create_bucket(Bucket="results")
    aws(moto_url, "s3").put_bucket_versioning(Bucket="results", VersioningConfiguration={"Status": "Enabled"})
    return "results"


def s3_config(tmp_path, moto_url, url="s3://results/lab-one/SendTo", **s3):
    settings = {"region": "us-east-1", "endpoint_url": moto_url, "access_key_id": KEY_ID, **s3}
    return make_config(tmp_path, {"url": url, "s3": settings, "sender": "lab-sender", "env": "Prod"})


def test_the_default_name_aes256_and_content_md5(tmp_path, moto_url, bucket):
    dest = open_destination(make_context(s3_config(tmp_path, moto_url, sse="AES256"), SECRET))
    decision = dest.deliver(make_batch(BODY), no_tracking)
    assert decision.kind == "delivered", decision.message
    receipt = json.loads(decision.receipt)
    assert receipt["bucket"] == "results"
    assert receipt["key"] == "lab-one/SendTo/lab.one~20260101000000123~k-0001.csv"
    assert receipt["etag"] == hashlib.md5(BODY).hexdigest()  # the store checked the bytes it got
    assert receipt["version_id"]
    got = aws(moto_url, "s3").get_object(Bucket="results", Key=receipt["key"])
    assert got["Body"].read() == BODY
    assert got["ServerSideEncryption"] == "AES256"
    assert got["ContentType"] == "text/csv"
    dest.close()


def test_the_aims_name_metadata_and_kms(tmp_path, moto_url, bucket):
    kms_key = aws(moto_url, "kms").create_key(Description="relay test")["KeyMetadata"]["Arn"]
    config = s3_config(
        tmp_path, moto_url, sse="aws:kms", kms_key_id=kms_key, content_type="text/plain",
        name_template="InterPartner~ExpandedELR~{sender}~AIMSPlatform~{env}~{env}~{timestamp}~STOP~{key}.{ext}",
        metadata={"AIMSPlatformSender": "{sender}", "AIMSPlatformFilename": "{name}",
                  "AIMSPlatformSenderMessageId": "{key}", "AIMSPlatformSenderProtocol": "S3",
                  "Note": "Zürich lab"})
    dest = open_destination(make_context(config, SECRET))
    batch = make_batch(HL7, key="0b6f5d0e-2c5e-4a57-9d0a-1f2e3d4c5b6a", content_type="application/hl7-v2")
    decision = dest.deliver(batch, no_tracking)
    assert decision.kind == "delivered", decision.message
    name = "InterPartner~ExpandedELR~lab-sender~AIMSPlatform~Prod~Prod~20260101000000123~STOP~" \
           "0b6f5d0e-2c5e-4a57-9d0a-1f2e3d4c5b6a.hl7"
    got = aws(moto_url, "s3").get_object(Bucket="results", Key=f"lab-one/SendTo/{name}")
    assert got["Body"].read() == HL7
    assert got["ContentType"] == "text/plain"
    assert got["ServerSideEncryption"] == "aws:kms"
    assert got["SSEKMSKeyId"] == kms_key
    assert got["Metadata"] == {"aimsplatformsender": "lab-sender", "aimsplatformfilename": name,
                               "aimsplatformsendermessageid": "0b6f5d0e-2c5e-4a57-9d0a-1f2e3d4c5b6a",
                               "aimsplatformsenderprotocol": "S3", "note": "Z%C3%BCrich lab"}


def test_a_retry_writes_the_same_name_with_the_same_bytes(tmp_path, moto_url, bucket):
    dest = open_destination(make_context(s3_config(tmp_path, moto_url, url="s3://results/retry"), SECRET))
    batch = make_batch(BODY, key="k-retry")
    first = json.loads(dest.deliver(batch, no_tracking).receipt)
    second = json.loads(dest.deliver(batch, no_tracking).receipt)  # the answer to the first was "lost"
    assert first["key"] == second["key"] == "retry/lab.one~20260101000000123~k-retry.csv"
    s3 = aws(moto_url, "s3")
    assert [o["Key"] for o in s3.list_objects_v2(Bucket="results", Prefix="retry/")["Contents"]] == [first["key"]]
    versions = s3.list_object_versions(Bucket="results", Prefix="retry/")["Versions"]
    assert len(versions) == 2 and {v["ETag"].strip('"') for v in versions} == {hashlib.md5(BODY).hexdigest()}


def test_no_such_bucket_pauses_with_that_reason(tmp_path, moto_url, bucket):
    dest = open_destination(make_context(s3_config(tmp_path, moto_url, url="s3://no-such-bucket/x"), SECRET))
    decision = dest.deliver(make_batch(BODY), no_tracking)
    assert decision.kind == "pause"
    assert "NoSuchBucket" in decision.message and "no-such-bucket" in decision.message
    assert dest.probe().outcome == "wrong"


@pytest.fixture(scope="module")
def iam_users(moto_url, bucket):
    iam = aws(moto_url, "iam")
    iam.create_user(UserName="writer")
    writer = iam.create_access_key(UserName="writer")["AccessKey"]
    iam.put_user_policy(UserName="writer", PolicyName="put", PolicyDocument=json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": ["s3:PutObject", "s3:ListBucket"], "Resource": "*"}]}))
    iam.create_user(UserName="nobody")
    nobody = iam.create_access_key(UserName="nobody")["AccessKey"]
    return {"writer": (writer["AccessKeyId"], writer["SecretAccessKey"]),
            "nobody": (nobody["AccessKeyId"], nobody["SecretAccessKey"])}


@pytest.mark.parametrize(("who", "secret", "code"), [
    ("unknown", "whatever", "InvalidAccessKeyId"),
    ("writer", "a-wrong-secret", "SignatureDoesNotMatch"),
    ("nobody", None, "AccessDenied"),
])
def test_rejected_credentials_pause_as_for_401(tmp_path, moto_url, iam_users, who, secret, code):
    key_id, real_secret = iam_users.get(who, ("AKIAUNKNOWNUNKNOWN00", "x"))
    config = s3_config(tmp_path, moto_url, access_key_id=key_id)
    dest = open_destination(make_context(config, secret or real_secret))
    with enable_iam_authentication():
        decision = dest.deliver(make_batch(BODY, key=f"k-{who}"), no_tracking)
        probe = dest.probe()
    assert decision.kind == "pause" and decision.pause_probe
    assert code in decision.message and "relay token set" in decision.message
    assert probe.outcome == ("ok" if code == "AccessDenied" else "bad_credential")


def test_the_writer_with_iam_on_delivers(tmp_path, moto_url, iam_users):
    key_id, secret = iam_users["writer"]
    dest = open_destination(make_context(s3_config(tmp_path, moto_url, access_key_id=key_id), secret))
    with enable_iam_authentication():
        assert dest.deliver(make_batch(BODY, key="k-writer"), no_tracking).kind == "delivered"
        assert dest.probe().ok


@pytest.mark.parametrize(("status", "code"), [(503, "SlowDown"), (500, "InternalError"), (503, "ServiceUnavailable")])
def test_server_errors_are_an_unknown_outcome(tmp_path, status, code):
    with failing_store(status, code) as url:
        dest = open_destination(make_context(s3_config(tmp_path, url), SECRET))
        decision = dest.deliver(make_batch(BODY), no_tracking)
    assert decision.kind == "unknown" and decision.status == status and code in decision.message


def test_no_answer_within_the_timeout_is_an_unknown_outcome(tmp_path):
    with failing_store(200, "", silent=True) as url:
        config = s3_config(tmp_path, url)
        config = make_config(tmp_path, {"url": "s3://results/x", "timeout_s": 0.3,
                                        "s3": {"region": "us-east-1", "endpoint_url": url, "access_key_id": KEY_ID}})
        decision = open_destination(make_context(config, SECRET)).deliver(make_batch(BODY), no_tracking)
    assert decision.kind == "unknown" and "within 0.3 s" in decision.message


def test_nothing_listening_is_an_unknown_outcome_and_unreachable(tmp_path):
    with failing_store(200, "") as url:
        pass  # the port is closed again
    dest = open_destination(make_context(s3_config(tmp_path, url), SECRET))
    assert dest.deliver(make_batch(BODY), no_tracking).kind == "unknown"
    assert dest.probe().outcome == "unreachable"


def test_no_stored_secret_pauses(tmp_path, moto_url):
    dest = open_destination(make_context(s3_config(tmp_path, moto_url), None))
    decision = dest.deliver(make_batch(BODY), no_tracking)
    assert decision.kind == "pause" and "relay token set" in decision.message


@pytest.mark.parametrize(("s3", "named"), [
    ({"access_key_id": KEY_ID}, "intake.s3.region"),
    ({"region": "us-east-1"}, "intake.s3.access_key_id"),
    ({"region": "us-east-1", "access_key_id": KEY_ID, "name_template": "{client}.csv"}, "must contain {key}"),
    ({"region": "us-east-1", "access_key_id": KEY_ID, "name_template": "{key}{when}"}, "unknown placeholder {when}"),
    ({"region": "us-east-1", "access_key_id": KEY_ID, "sse": "aws:kms", "metadata": {"A": "{nope}"}},
     "intake.s3.metadata.A"),
    ({"region": "us-east-1", "access_key_id": KEY_ID, "kms_key_id": "k"}, "intake.s3.kms_key_id"),
    ({"region": "us-east-1", "access_key_id": KEY_ID, "sse": "yes"}, "intake.s3.sse"),
])
def test_config_names_the_missing_or_wrong_key(tmp_path, s3, named):
    with pytest.raises(ConfigError) as err:
        make_config(tmp_path, {"url": "s3://results/p", "s3": s3})
    assert named in str(err.value)


def test_config_needs_the_s3_section_and_sender_for_its_placeholder(tmp_path):
    with pytest.raises(ConfigError, match=r"intake\.s3: required"):
        make_config(tmp_path, {"url": "s3://results/p"})
    with pytest.raises(ConfigError, match=r"intake\.sender"):
        make_config(tmp_path, {"url": "s3://results/p", "s3": {
            "region": "r", "access_key_id": "a", "name_template": "{sender}~{key}"}})


def test_a_batch_formed_by_the_outbox_is_delivered_and_keeps_its_name_across_claims(tmp_path, moto_url, bucket):
    from relay.delivery.wire import build_csv
    from relay.store.outbox import Outbox
    from tests.helpers.builders import new_item

    dest = open_destination(make_context(s3_config(tmp_path, moto_url, url="s3://results/outbox"), SECRET))
    with Outbox(tmp_path / "outbox.db") as box:
        box.add_items([new_item(i) for i in range(3)], source="file", client="lab.one", now=1_767_225_600.5,
                      source_name="results.csv")
        batch = box.claim(now=1_767_225_601.25, lease_s=60, owner="a", limit=10, build=build_csv)
        assert batch is not None
        first = json.loads(dest.deliver(batch, no_tracking).receipt)
        box.release(batch.id, owner="a", now=1_767_225_602.0)  # as if the answer were lost: claimed again later
        again = box.claim(now=1_767_225_700.0, lease_s=60, owner="b", limit=10, build=build_csv)
        assert again is not None and again.id == batch.id
        second = dest.deliver(again, no_tracking)
        box.complete(again.id, owner="b", receipt=second.receipt, status=200, now=1_767_225_701.0)
    assert first["key"] == json.loads(second.receipt)["key"] == \
        f"outbox/lab.one~20260101000001250~{batch.idempotency_key}.csv"  # formed at 00:00:01.250
    got = aws(moto_url, "s3").get_object(Bucket="results", Key=first["key"])["Body"].read()
    assert got == batch.body == again.body
