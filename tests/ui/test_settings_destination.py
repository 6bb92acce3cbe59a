"""The Settings dialog's destination box: the transport follows the address, its fields go into
[intake.s3] / [intake.sftp], and "Test destination" asks the real destination (moto's S3 server
and an MLLP receiver on loopback)."""

from __future__ import annotations

import tomllib

import boto3
import pytest
from moto.server import ThreadedMotoServer

from tests.destinations.mllp_peer import ack, mllp_receiver

pytestmark = pytest.mark.gui


@pytest.fixture
def dialog(qtbot, app):
    d = app.open_settings()
    qtbot.waitUntil(lambda: d.token.placeholderText() != "checking…")
    return d


@pytest.fixture(scope="module")
def moto_url():
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    url = f"http://{host}:{port}"
    boto3.client("s3", endpoint_url=url, region_name="us-east-1", aws_access_key_id="testing",
                 aws_secret_access_key="testing").create_bucket(Bucket="results")
    yield url
    server.stop()


def test_the_transport_follows_the_address_and_back(dialog):
    box = dialog.destination
    assert box.current() == "https" and box.pages.isHidden() and not box.test_button.isVisibleTo(dialog)
    assert dialog.test_button.isVisibleTo(dialog)
    dialog.url.setText("s3://results/lab-one")
    assert box.current() == "s3" and box.pages.currentIndex() == 1 and box.test_button.isVisibleTo(dialog)
    assert not dialog.test_button.isVisibleTo(dialog)  # the intake's own test speaks HTTPS only
    box.transport.setCurrentIndex(box.transport.findData("sftp"))
    box.transport.activated.emit(box.transport.currentIndex())
    assert dialog.url.text() == "sftp://results/lab-one" and box.pages.currentIndex() == 2


def test_the_address_explains_every_scheme_and_a_wrong_one_is_named(dialog):
    tip = dialog.url.toolTip()
    assert all(f"{scheme}://" in tip for scheme in ("https", "s3", "sftp", "mllp", "mllps"))
    dialog.url.setText("ftp://results/lab-one")
    dialog.buttons.accepted.emit()
    shown = dialog.errors["url"].text()
    assert "mllp://HOST:PORT" in shown and "s3://BUCKET/PREFIX" in shown and dialog.isVisible()


def test_s3_fields_are_saved_and_the_rest_of_the_file_kept(qtbot, dialog, lab, moto_url):
    dialog.url.setText("s3://results/lab-one")
    box = dialog.destination
    box.s3["region"].setText("us-east-1")
    box.s3["access_key_id"].setText("testing")
    box.s3["endpoint_url"].setText(moto_url)
    box.sse.setCurrentIndex(box.sse.findData("AES256"))
    box.sender_name.setText("lab-sender")
    dialog.buttons.accepted.emit()
    qtbot.waitUntil(lambda: not dialog.isVisible())
    data = tomllib.loads(lab.config_path.read_text(encoding="utf-8"))
    assert data["intake"]["url"] == "s3://results/lab-one" and data["intake"]["sender"] == "lab-sender"
    assert data["intake"]["s3"] == {"region": "us-east-1", "access_key_id": "testing", "endpoint_url": moto_url,
                                    "sse": "AES256"}
    assert data["store"] == {"path": "outbox.db"}


def test_test_destination_lists_the_bucket(qtbot, dialog, moto_url):
    dialog.url.setText("s3://results/lab-one")
    box = dialog.destination
    box.s3["region"].setText("us-east-1")
    box.s3["access_key_id"].setText("testing")
    box.s3["endpoint_url"].setText(moto_url)
    dialog.token.setText("testing")
    box.test_button.click()
    qtbot.waitUntil(lambda: box.last_probe is not None, timeout=10_000)
    assert box.last_probe.ok and "s3://results/lab-one/" in box.test_result.text()
    assert box.test_button.isEnabled()


def test_a_missing_s3_key_or_host_pin_is_named_and_nothing_is_written(qtbot, dialog, lab):
    before = lab.config_path.read_bytes()
    dialog.url.setText("s3://results/lab-one")
    dialog.buttons.accepted.emit()
    assert "intake.s3" in dialog.general_errors.text() and dialog.isVisible()
    dialog.url.setText("sftp://relay@127.0.0.1/drop")
    dialog.buttons.accepted.emit()
    assert "intake.sftp.host_key_sha256 or intake.sftp.known_hosts" in dialog.general_errors.text()
    dialog.destination.test_button.click()
    assert dialog.destination.test_result.text() == "Correct the settings marked above first."
    assert lab.config_path.read_bytes() == before


def test_test_destination_connects_over_mllp(qtbot, dialog):
    with mllp_receiver(lambda m: ack(m, "AA")) as peer:
        dialog.url.setText(f"mllp://127.0.0.1:{peer.port}")
        box = dialog.destination
        assert box.pages.currentIndex() == 3 and box.names_row.isHidden()
        box.test_button.click()
        qtbot.waitUntil(lambda: box.last_probe is not None, timeout=10_000)
    assert box.last_probe.ok and "nothing was sent" in box.test_result.text()
    assert peer.received == []
