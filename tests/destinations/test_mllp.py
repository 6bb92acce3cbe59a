"""mllp:// and mllps:// against a real MLLP receiver on loopback (tests/destinations/mllp_peer.py)."""

from __future__ import annotations

import datetime
import ipaddress
import json
import ssl

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from relay.delivery.destinations import open_destination
from relay.delivery.destinations.mllp_frames import messages, parse_ack
from relay.errors import ConfigError
from tests.destinations.mllp_peer import ack, mllp_receiver
from tests.destinations.support import make_batch, make_config, make_context, no_tracking

MSG = (b"MSH|^~\\&|relay|Lab^05D1234567^CLIA|AIMS|AIMS|20260101000000||ORU^R01^ORU_R01|ctl-0001|P|2.5.1\r"
       b"PID|1||p-1^^^Lab^PI||Doe^Jane\r"
       b"OBX|1|CWE|94500-6^SARS-CoV-2 RNA^LN||260415000^Not detected^SCT\r")
BATCH = b"FHS|^~\\&|relay\rBHS|^~\\&|relay\r" + MSG + b"BTS|1\rFTS|1\r"


OPENED = []


@pytest.fixture(autouse=True)
def _close_destinations():
    yield
    while OPENED:
        OPENED.pop().close()


def mllp_dest(tmp_path, port, scheme="mllp", **intake):
    config = make_config(tmp_path, {"url": f"{scheme}://127.0.0.1:{port}", "auth": "none", "timeout_s": 5, **intake})
    dest = open_destination(make_context(config))
    OPENED.append(dest)
    return dest


def hl7_batch(body=BATCH, key="k-1"):
    return make_batch(body, key=key, content_type="application/hl7-v2", items=1)


def test_aa_delivers_each_message_in_its_own_frame_on_a_kept_connection(tmp_path):
    with mllp_receiver(lambda m: ack(m, "AA")) as peer:
        dest = mllp_dest(tmp_path, peer.port)
        assert dest.formats == frozenset({"hl7"}) and dest.max_items == 1
        first = dest.deliver(hl7_batch(), no_tracking)
        second = dest.deliver(hl7_batch(MSG.replace(b"ctl-0001", b"ctl-0002"), key="k-2"), no_tracking)
        dest.close()
    assert first.kind == second.kind == "delivered"
    assert json.loads(first.receipt) == {"control_id": "ctl-0001", "code": "AA"}
    assert peer.received == [MSG, MSG.replace(b"ctl-0001", b"ctl-0002")]  # FHS/BHS/BTS/FTS are not sent
    assert peer.connections == 1


def test_a_body_of_several_messages_sends_them_one_by_one(tmp_path):
    two = BATCH.replace(b"BTS|1", MSG.replace(b"ctl-0001", b"ctl-0002") + b"BTS|2")
    with mllp_receiver(lambda m: ack(m, "CA")) as peer:
        decision = mllp_dest(tmp_path, peer.port).deliver(hl7_batch(two), no_tracking)
    assert decision.kind == "delivered" and [a["control_id"] for a in json.loads(decision.receipt)] == \
        ["ctl-0001", "ctl-0002"]
    assert len(peer.received) == 2


def test_ae_retries_with_backoff(tmp_path):
    with mllp_receiver(lambda m: ack(m, "AE", err="database busy")) as peer:
        decision = mllp_dest(tmp_path, peer.port).deliver(hl7_batch(), no_tracking)
    assert decision.kind == "retry_later" and "AE" in decision.message and "database busy" in decision.message


def test_ar_fails_with_the_err_text(tmp_path):
    with mllp_receiver(lambda m: ack(m, "AR", err="PID-3 is required")) as peer:
        decision = mllp_dest(tmp_path, peer.port).deliver(hl7_batch(), no_tracking)
    assert decision.kind == "fail_batch"
    assert "AR" in decision.message and "PID-3 is required" in decision.message and "ctl-0001" in decision.message


def test_a_wrong_msa2_is_an_unknown_outcome_and_the_same_message_goes_again(tmp_path):
    answers = iter([lambda m: ack(m, "AA", control_id="someone-else"), lambda m: ack(m, "AA")])
    with mllp_receiver(lambda m: next(answers)(m)) as peer:
        dest = mllp_dest(tmp_path, peer.port)
        batch = hl7_batch()
        first = dest.deliver(batch, no_tracking)
        second = dest.deliver(batch, no_tracking)
    assert first.kind == "unknown" and "someone-else" in first.message
    assert second.kind == "delivered"
    assert peer.received == [MSG, MSG]  # identical, same MSH-10
    assert peer.connections == 2  # the out-of-step connection was dropped


def test_no_ack_within_the_timeout_is_an_unknown_outcome(tmp_path):
    with mllp_receiver(lambda m: None) as peer:
        decision = mllp_dest(tmp_path, peer.port, timeout_s=0.3).deliver(hl7_batch(), no_tracking)
    assert decision.kind == "unknown" and "within 0.3 s" in decision.message and "ctl-0001" in decision.message


def test_a_closed_connection_is_an_unknown_outcome(tmp_path):
    with mllp_receiver(lambda m: "close") as peer:
        decision = mllp_dest(tmp_path, peer.port).deliver(hl7_batch(), no_tracking)
    assert decision.kind == "unknown" and "closed" in decision.message


def test_a_connection_the_receiver_closed_while_idle_is_replaced(tmp_path):
    with mllp_receiver(lambda m: ack(m, "AA")) as peer:
        dest = mllp_dest(tmp_path, peer.port)
        assert dest.deliver(hl7_batch(), no_tracking).kind == "delivered"
    with mllp_receiver(lambda m: ack(m, "AA")) as again:  # the first receiver closed relay's idle connection
        dest.mllp = dest.mllp.__class__(host="127.0.0.1", port=again.port, tls=False)
        assert dest.deliver(hl7_batch(key="k-2"), no_tracking).kind == "delivered"  # not a lost answer
    assert again.received == [MSG]


def test_nothing_listening_is_unknown_and_probe_says_unreachable(tmp_path):
    with mllp_receiver(lambda m: None) as peer:
        port = peer.port
    dest = mllp_dest(tmp_path, port)
    assert dest.deliver(hl7_batch(), no_tracking).kind == "unknown"
    assert dest.probe().outcome == "unreachable"


def test_not_hl7_fails_the_batch(tmp_path):
    with mllp_receiver(lambda m: ack(m, "AA")) as peer:
        decision = mllp_dest(tmp_path, peer.port).deliver(make_batch(b"a,b\r\n1,2\r\n"), no_tracking)
        assert decision.kind == "fail_batch" and "MSH" in decision.message
        assert peer.received == []


def _tls_pair(tmp_path):
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "relay test receiver")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
            .sign(key, hashes.SHA256()))
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(cert_file, key_file)
    return server, cert_file


def test_mllps_over_tls_with_the_ca_file(tmp_path):
    server, cert_file = _tls_pair(tmp_path)
    with mllp_receiver(lambda m: ack(m, "AA"), tls=server) as peer:
        dest = mllp_dest(tmp_path, peer.port, scheme="mllps", ca_file=str(cert_file))
        assert dest.probe().ok
        assert dest.deliver(hl7_batch(), no_tracking).kind == "delivered"
        untrusting = mllp_dest(tmp_path, peer.port, scheme="mllps")
        assert untrusting.probe().outcome == "unreachable"
        assert untrusting.deliver(hl7_batch(), no_tracking).kind == "unknown"
    assert peer.received == [MSG]


def test_frames_and_acks_parse():
    assert [m.control_id for m in messages(b"\x0b" + MSG.replace(b"\r", b"\r\n") + b"\x1c\r")] == ["ctl-0001"]
    parsed = parse_ack(ack(MSG, "AR", err="bad"))
    assert (parsed.code, parsed.control_id, parsed.text) == ("AR", "ctl-0001", "bad")


@pytest.mark.parametrize(("url", "named"), [("mllp://127.0.0.1", "names a host and a port"),
                                             ("mllp://127.0.0.1:2575/x", "has no path")])
def test_config_names_what_is_wrong(tmp_path, url, named):
    with pytest.raises(ConfigError, match=named):
        make_config(tmp_path, {"url": url})


def test_python_hl7s_asyncio_mllp_server_acknowledges(tmp_path):
    """Interoperability: python-hl7's own MLLP server (hl7.mllp) as the receiver, its create_ack as the ACK."""
    import asyncio
    import threading

    import hl7
    import hl7.mllp

    received: list[str] = []
    ready = threading.Event()
    state: dict = {}

    async def handle(reader, writer):
        try:
            while not writer.is_closing():
                message = await reader.readmessage()
                received.append(str(message.segment("MSH")[10]))
                writer.writemessage(message.create_ack("AA"))
                await writer.drain()
        except asyncio.IncompleteReadError:
            writer.close()

    async def serve():
        server = await hl7.mllp.start_hl7_server(handle, host="127.0.0.1", port=0)
        state["port"] = server.sockets[0].getsockname()[1]
        state["stop"] = asyncio.Event()
        ready.set()
        async with server:
            await state["stop"].wait()

    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_until_complete, args=(serve(),), daemon=True)
    thread.start()
    try:
        assert ready.wait(10)
        dest = mllp_dest(tmp_path, state["port"])
        decision = dest.deliver(hl7_batch(), no_tracking)
        dest.close()
    finally:
        loop.call_soon_threadsafe(state["stop"].set)
        thread.join(10)
        loop.close()
    assert decision.kind == "delivered", decision.message
    assert json.loads(decision.receipt) == {"control_id": "ctl-0001", "code": "AA"}
    assert received == ["ctl-0001"]
