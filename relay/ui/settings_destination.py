"""The Settings dialog's destination box: which transport the intake address uses (https, S3, SFTP,
MLLP), the fields of [intake.s3] / [intake.sftp] that go with it, and "Test connection" through the
destination's own probe (a bucket listing, a folder listing, a connect). The address's scheme picks
the transport; choosing a transport here changes the scheme of the address.

Only the keys shown here change in the file; others (S3 metadata, say) are kept as they are.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QComboBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from relay import credentials
from relay.clock import SystemClock
from relay.config import Config
from relay.delivery.destinations import DestinationContext, ProbeResult, open_destination
from relay.errors import CredentialStoreUnavailable, RelayError
from relay.ui.config_edit import ADDRESS_HELP

TRANSPORTS = (("HTTPS (the intake's web address)", "https"), ("Amazon S3 or an S3-compatible store", "s3"),
              ("SFTP", "sftp"), ("MLLP (HL7 v2)", "mllp"), ("MLLP over TLS", "mllps"))
PAGE = {"https": 0, "http": 0, "s3": 1, "sftp": 2, "mllp": 3, "mllps": 3}
S3_FIELDS = (("region", "Region", "us-east-1"), ("access_key_id", "Access key id", "AKIA…"),
             ("endpoint_url", "Endpoint (S3-compatible stores)", "https://s3.example.org"),
             ("kms_key_id", "KMS key (with aws:kms)", "arn:aws:kms:…"),
             ("name_template", "Object name", "{client}~{timestamp}~{key}.{ext}"),
             ("content_type", "Content type", "the batch's own"))
SFTP_FIELDS = (("host_key_sha256", "Host key (SHA256:…)", "as `ssh-keygen -lf` prints it on the server"),
               ("known_hosts", "or a known_hosts file", "known_hosts"),
               ("key_file", "Private key file (0600)", "leave empty to use the stored credential"),
               ("name_template", "File name", "{client}~{timestamp}~{key}.{ext}"))
SSE = (("Bucket default", "none"), ("AWS KMS (aws:kms)", "aws:kms"), ("S3-managed keys (AES256)", "AES256"))


def scheme(url: str) -> str:
    try:
        return urlsplit(url.strip()).scheme.lower()
    except ValueError:
        return ""


def _form(fields: tuple[tuple[str, str, str], ...]) -> tuple[QWidget, QFormLayout, dict[str, QLineEdit]]:
    page = QWidget()
    form = QFormLayout(page)
    form.setContentsMargins(0, 0, 0, 0)
    edits: dict[str, QLineEdit] = {}
    for key, label, hint in fields:
        edit = QLineEdit()
        edit.setPlaceholderText(hint)
        edit.setAccessibleName(label)
        edits[key] = edit
        form.addRow(label, edit)
    return page, form, edits


class DestinationBox(QGroupBox):
    """Built by SettingsDialog with its address and credential fields and a way to get the checked
    Config of the form as it stands (None when it has errors, which the dialog then shows)."""

    def __init__(self, run_action: Callable[..., None], url: QLineEdit, token: QLineEdit,
                 checked_config: Callable[[], Config | None], https_widgets: tuple[QWidget, ...] = ()) -> None:
        super().__init__("Destination")
        self.run_action = run_action
        self.url = url
        self.token = token
        self.checked_config = checked_config
        self.https_widgets = https_widgets
        self.last_probe: ProbeResult | None = None

        self.transport = QComboBox()
        for text, value in TRANSPORTS:
            self.transport.addItem(text, value)
        self.transport.setAccessibleName("Transport")
        self.sender_name = QLineEdit()
        self.sender_name.setPlaceholderText("your sender name at the destination ({sender})")
        self.env = QLineEdit()
        self.env.setPlaceholderText("e.g. Prod ({env})")

        s3_page, s3_form, self.s3 = _form(S3_FIELDS)
        self.sse = QComboBox()
        for text, value in SSE:
            self.sse.addItem(text, value)
        s3_form.insertRow(2, "Encryption", self.sse)
        s3_note = QLabel("The secret access key is the credential (stored in the keyring, never in the file).")
        s3_note.setWordWrap(True)
        s3_note.setEnabled(False)
        s3_form.addRow("", s3_note)
        sftp_page, sftp_form, self.sftp = _form(SFTP_FIELDS)
        sftp_note = QLabel("relay never accepts a host key unseen: get the fingerprint from the server's "
                           "administrators. The credential is the password or private key, if no key file is set.")
        sftp_note.setWordWrap(True)
        sftp_note.setEnabled(False)
        sftp_form.addRow("", sftp_note)
        mllp_page = QLabel("HL7 v2 messages, one a frame, each waiting for its ACK. Only HL7 results go this way: "
                           "from the MLLP listener, HL7 folders, or CSV rows translated to ELR ([translate]). No "
                           "credential is needed. mllps:// checks the receiver's certificate.")
        mllp_page.setWordWrap(True)
        self.pages = QStackedWidget()
        for page in (QWidget(), s3_page, sftp_page, mllp_page):
            self.pages.addWidget(page)

        self.test_button = QPushButton("Test &destination")
        self.test_button.clicked.connect(self.test_connection)
        self.test_result = QLabel()
        self.test_result.setWordWrap(True)
        self.test_result.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        test_row = QHBoxLayout()
        test_row.addWidget(self.test_button, 0, Qt.AlignmentFlag.AlignTop)
        test_row.addWidget(self.test_result, 1)

        top = QFormLayout()
        top.addRow("Transport", self.transport)
        self.names_row = QWidget()
        names = QFormLayout(self.names_row)
        names.setContentsMargins(0, 0, 0, 0)
        names.addRow("Sender name", self.sender_name)
        names.addRow("Environment", self.env)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.pages)
        layout.addWidget(self.names_row)
        layout.addLayout(test_row)

        self.transport.activated.connect(self._transport_chosen)
        self.url.textChanged.connect(self._url_changed)
        self.url.setToolTip(ADDRESS_HELP[0].upper() + ADDRESS_HELP[1:] + ".")
        self._url_changed(self.url.text())

    # -- transport <-> address -----------------------------------------------------------------

    def current(self) -> str:
        return str(self.transport.currentData())

    def _url_changed(self, text: str) -> None:
        chosen = scheme(text) or "https"
        index = self.transport.findData("https" if chosen == "http" else chosen)
        if index >= 0:
            self.transport.setCurrentIndex(index)
        page = PAGE.get(chosen, 0)
        self.pages.setCurrentIndex(page)
        self.pages.setVisible(page != 0)
        self.names_row.setVisible(page in (1, 2))
        self.test_button.setVisible(page != 0)
        self.test_result.setVisible(page != 0)
        for widget in self.https_widgets:  # the intake's own test speaks HTTPS only
            widget.setVisible(page == 0)

    def _transport_chosen(self, _index: int) -> None:
        new = self.current()
        text = self.url.text().strip()
        rest = text.split("://", 1)[1] if "://" in text else ""
        self.url.setText(f"{new}://{rest}")

    # -- file <-> form -------------------------------------------------------------------------

    def load(self, raw: dict[str, Any]) -> None:
        intake = raw.get("intake", {}) if isinstance(raw.get("intake"), dict) else {}
        s3 = intake.get("s3", {}) if isinstance(intake.get("s3"), dict) else {}
        sftp = intake.get("sftp", {}) if isinstance(intake.get("sftp"), dict) else {}
        for key, edit in self.s3.items():
            edit.setText(str(s3.get(key, "")))
        self.sse.setCurrentIndex(max(0, self.sse.findData(s3.get("sse", "none"))))
        for key, edit in self.sftp.items():
            value = sftp.get(key, "")
            edit.setText(", ".join(value) if isinstance(value, list) else str(value))
        self.sender_name.setText(str(intake.get("sender", "")))
        self.env.setText(str(intake.get("env", "")))
        self._url_changed(self.url.text())

    def apply(self, data: dict[str, Any]) -> dict[str, Any]:
        """``data`` with the shown transport's fields in [intake.s3] / [intake.sftp]."""
        data = copy.deepcopy(data)
        intake = data.setdefault("intake", {})
        page = PAGE.get(scheme(str(intake.get("url", ""))), 0)
        if page in (1, 2):
            for key, edit in (("sender", self.sender_name), ("env", self.env)):
                _put(intake, key, edit.text())
        if page == 1:
            s3 = dict(intake.get("s3", {}))
            for key, edit in self.s3.items():
                _put(s3, key, edit.text())
            if self.sse.currentData() != "none" or "sse" in s3:  # the default is not written unasked
                s3["sse"] = str(self.sse.currentData())
            intake["s3"] = s3
        elif page == 2:
            sftp = dict(intake.get("sftp", {}))
            for key, edit in self.sftp.items():
                value: Any = edit.text()
                if key == "host_key_sha256" and "," in value:
                    value = [v.strip() for v in value.split(",") if v.strip()]
                _put(sftp, key, value)
            intake["sftp"] = sftp
        return data

    # -- test connection -----------------------------------------------------------------------

    def test_connection(self) -> None:
        config = self.checked_config()
        if config is None:
            self.test_result.setText("Correct the settings marked above first.")
            return
        typed = self.token.text().strip() or None
        self.test_button.setEnabled(False)
        self.test_result.setText("Testing…")

        def secret() -> str | None:
            if typed is not None:
                return typed
            try:
                return credentials.get_token()
            except CredentialStoreUnavailable:
                return None

        def job() -> ProbeResult:
            destination = open_destination(DestinationContext(config=config, clock=SystemClock(), secret=secret))
            try:
                return destination.probe()
            finally:
                destination.close()

        def done(result: ProbeResult) -> None:
            self.last_probe = result
            self.test_button.setEnabled(True)
            self.test_result.setText(result.text)

        def failed(exc: BaseException) -> None:
            self.test_button.setEnabled(True)
            self.test_result.setText(f"The test could not run: {exc}" if isinstance(exc, RelayError)
                                     else f"The test could not run ({type(exc).__name__}: {exc})")

        self.run_action("Testing the destination", job, done, failed)


def _put(table: dict[str, Any], key: str, value: Any) -> None:
    if isinstance(value, str):
        value = value.strip()
    if value in ("", []):
        table.pop(key, None)
    else:
        table[key] = value
