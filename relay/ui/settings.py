"""The settings dialog: intake, credential, watched folders, maintenance windows.

Values are checked with relay's own validation (the JSON Schema, then the semantic checks) and the
errors are shown next to the fields they concern. Saving writes relay.toml (keeping every section
the form does not edit) and restarts sending with the new settings. The credential goes to the
OS keyring through the agent and is never shown again.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QListWidget,
    QPushButton,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from relay import credentials
from relay.config import Config
from relay.errors import ConfigError, CredentialStoreUnavailable, RelayError
from relay.ui.icons import attention_text_color
from relay.ui.config_edit import FieldError, FormValues, apply_form, check, form_from_raw, read_raw
from relay.ui.probe import ProbeResult, probe
from relay.ui.prompts import Prompts
from relay.ui.session import Session
from relay.ui.settings_destination import DestinationBox
from relay.ui.toml_write import write_file

log = logging.getLogger("relay.ui")

NO_KEYRING = ("This computer has no secure credential store, so relay will not keep the credential here. "
              "Set RELAY_TOKEN in the environment of the relay service instead.")


def _list_box(title: str, listing: QWidget, buttons: tuple[QPushButton, ...], below: tuple[QWidget, ...]) -> QGroupBox:
    """A titled box: a list with a column of buttons beside it, and lines of text under both."""
    column = QVBoxLayout()
    for button in buttons:
        column.addWidget(button)
    column.addStretch(1)
    row = QHBoxLayout()
    row.addWidget(listing, 1)
    row.addLayout(column)
    box = QGroupBox(title)
    layout = QVBoxLayout(box)
    layout.addLayout(row)
    for widget in below:
        layout.addWidget(widget)
    return box


def _error_label() -> QLabel:
    label = QLabel()
    label.setWordWrap(True)
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    label.setProperty("role", "error")
    label.hide()
    return label


def _show(label: QLabel, lines: list[str]) -> None:
    label.setText("\n".join(lines))
    label.setVisible(bool(lines))
    if lines:
        font = label.font()
        font.setBold(True)
        label.setFont(font)
        pal = label.palette()
        pal.setColor(QPalette.ColorRole.WindowText, attention_text_color(pal))
        label.setPalette(pal)


def token_state() -> str:
    """Placeholder for the credential field: where the credential is, never what it is."""
    if os.environ.get("RELAY_TOKEN"):
        return "set by RELAY_TOKEN in the environment"
    try:
        return "stored" if credentials.get_token() else "not set"
    except CredentialStoreUnavailable:
        return "not set"


class SettingsDialog(QDialog):
    saved = Signal(object)  # the new Config, after the file was written

    def __init__(self, session: Session, prompts: Prompts, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.prompts = prompts
        self.path = session.config_path
        self.setWindowTitle("relay settings")
        self.setMinimumWidth(640)
        self.raw: dict[str, Any] = {}
        self.last_probe: ProbeResult | None = None

        # intake
        self.url = QLineEdit()
        self.url.setPlaceholderText("https://intake.example.org/api/waters")
        self.client = QLineEdit()
        self.format = QComboBox()
        self.format.addItems(["csv", "ndjson", "json"])
        self.auth = QComboBox()
        self.auth.addItem("Bearer token", "bearer")
        self.auth.addItem("Functions key (x-functions-key)", "functions-key")
        self.auth.addItem("None", "none")
        self.batch = QSpinBox()
        self.batch.setRange(1, 10_000)
        self.batch.setSuffix(" results per request")
        self.token = QLineEdit()
        self.token.setEchoMode(QLineEdit.EchoMode.Password)
        self.token.setPlaceholderText("checking…")
        self.token.setAccessibleName("Credential")
        self.errors: dict[str, QLabel] = {k: _error_label() for k in
                                          ("url", "client", "format", "auth", "batch_max_items", "token")}
        self.token_note = QLabel("RELAY_TOKEN is set in the environment of this app; it is used instead of a "
                                 "stored credential.")
        self.token_note.setWordWrap(True)
        self.token_note.setEnabled(False)
        self.token_note.setVisible(bool(os.environ.get("RELAY_TOKEN")))
        form = QFormLayout()
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        for label, widget, key in (("Intake URL", self.url, "url"), ("Client", self.client, "client"),
                                   ("Format", self.format, "format"), ("Authentication", self.auth, "auth"),
                                   ("Batch size", self.batch, "batch_max_items"),
                                   ("Credential", self.token, "token")):
            box = QVBoxLayout()
            box.setSpacing(2)
            box.addWidget(widget)
            box.addWidget(self.errors[key])
            if key == "token":
                box.addWidget(self.token_note)
            form.addRow(label, box)
        self.test_button = QPushButton("&Test connection")
        self.test_button.clicked.connect(self.test_connection)
        self.test_result = QLabel()
        self.test_result.setWordWrap(True)
        self.test_result.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        test_row = QHBoxLayout()
        test_row.addWidget(self.test_button, 0, Qt.AlignmentFlag.AlignTop)
        test_row.addWidget(self.test_result, 1)
        form.addRow("", test_row)
        intake_box = QGroupBox("Intake")
        intake_box.setLayout(form)
        self.destination = DestinationBox(session.run_action, self.url, self.token, lambda: self.validate()[1],
                                          (self.test_button, self.test_result))

        # watched folders
        self.folders = QListWidget()
        self.folders.setAccessibleName("Watched folders")
        self.folders.setMaximumHeight(90)
        add_folder = QPushButton("Add…")
        add_folder.clicked.connect(self.add_folder)
        self.remove_folder = QPushButton("Remove")
        self.remove_folder.clicked.connect(self.remove_selected_folder)
        self.folder_errors = _error_label()
        folders_box = _list_box("Watched folders (lab staff drop CSV files here)", self.folders,
                                (add_folder, self.remove_folder), (self.folder_errors,))

        # maintenance windows
        self.windows = QTableWidget(0, 4)
        self.windows.setAccessibleName("Maintenance windows")
        self.windows.setHorizontalHeaderLabels(["Days", "Start", "End", "Time zone"])
        self.windows.verticalHeader().setVisible(False)
        self.windows.horizontalHeader().setSectionResizeMode(3, QHeaderView.ResizeMode.Stretch)
        self.windows.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.windows.setMaximumHeight(120)
        add_window = QPushButton("Add")
        add_window.clicked.connect(lambda: self.add_window({"days": "mon-fri", "start": "09:30", "end": "11:00",
                                                            "timezone": "UTC"}))
        remove_window = QPushButton("Remove")
        remove_window.clicked.connect(self.remove_selected_window)
        self.window_errors = _error_label()
        hint = QLabel("Days like mon-fri or sat,sun; times like 09:30; time zones like America/New_York.")
        hint.setEnabled(False)
        windows_box = _list_box("Intake maintenance windows (nothing is sent then)", self.windows,
                                (add_window, remove_window), (hint, self.window_errors))

        self.general_errors = _error_label()
        self.note = QLabel(f"Saved to {self.path}. Saving restarts sending with the new settings.")
        self.note.setWordWrap(True)
        self.note.setEnabled(False)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel)
        self.buttons.accepted.connect(self.save)
        self.buttons.rejected.connect(self.reject)

        layout = QVBoxLayout(self)
        layout.addWidget(intake_box)
        layout.addWidget(self.destination)
        layout.addWidget(folders_box)
        layout.addWidget(windows_box)
        layout.addWidget(self.general_errors)
        layout.addWidget(self.note)
        layout.addWidget(self.buttons)

        self.load()

    # -- loading --------------------------------------------------------------------------------

    def load(self) -> None:
        try:
            self.raw = read_raw(self.path)
        except ConfigError as exc:
            self.raw = {}
            _show(self.general_errors, [f"{exc}. Saving will write a new file."])
        values = form_from_raw(self.raw)
        self.url.setText(values.url)
        self.client.setText(values.client)
        self.format.setCurrentText(values.format)
        self.auth.setCurrentIndex(max(0, self.auth.findData(values.auth)))
        self.batch.setValue(values.batch_max_items)
        self.folders.clear()
        for folder in values.folders:
            self.folders.addItem(folder)
        self.windows.setRowCount(0)
        for w in values.windows:
            self.add_window(w)
        self.destination.load(self.raw)
        self.session.worker.read(token_state, self.token.setPlaceholderText,
                                 lambda exc: self.token.setPlaceholderText("not set"))

    def values(self) -> FormValues:
        windows = []
        for r in range(self.windows.rowCount()):
            cells = [self.windows.item(r, c) for c in range(4)]
            windows.append({k: (cell.text() if cell else "") for k, cell in
                            zip(("days", "start", "end", "timezone"), cells)})
        return FormValues(
            url=self.url.text(), client=self.client.text(), format=self.format.currentText(),
            auth=str(self.auth.currentData()), batch_max_items=self.batch.value(),
            folders=[self.folders.item(i).text() for i in range(self.folders.count())], windows=windows,
        )

    # -- rows -----------------------------------------------------------------------------------

    def add_folder(self) -> None:
        start = Path(self.folders.currentItem().text()) if self.folders.currentItem() else Path.home()
        chosen = self.prompts.folder(self, "Choose a folder to watch", start)
        if chosen is not None:
            text = str(chosen)
            if not self.folders.findItems(text, Qt.MatchFlag.MatchExactly):
                self.folders.addItem(text)

    def remove_selected_folder(self) -> None:
        row = self.folders.currentRow()
        if row >= 0:
            self.folders.takeItem(row)

    def add_window(self, values: dict[str, str]) -> None:
        r = self.windows.rowCount()
        self.windows.insertRow(r)
        defaults = {"days": "mon-sun", "timezone": "UTC"}
        for c, key in enumerate(("days", "start", "end", "timezone")):
            self.windows.setItem(r, c, QTableWidgetItem(values.get(key, defaults.get(key, ""))))

    def remove_selected_window(self) -> None:
        rows = sorted({i.row() for i in self.windows.selectedIndexes()}, reverse=True)
        if not rows and self.windows.currentRow() >= 0:
            rows = [self.windows.currentRow()]
        for r in rows:
            self.windows.removeRow(r)

    # -- checking -------------------------------------------------------------------------------

    def validate(self) -> tuple[dict[str, Any], Config | None]:
        data = self.destination.apply(apply_form(self.raw, self.values()))
        config, errors = check(data, self.path)
        self.show_errors(errors)
        return data, config

    def show_errors(self, errors: list[FieldError]) -> None:
        by_field: dict[str, list[str]] = {k: [] for k in self.errors}
        folders: list[str] = []
        windows: list[str] = []
        general: list[str] = []
        for e in errors:
            if e.key.startswith("intake."):
                name = e.key.split(".", 1)[1]
                (by_field[name] if name in by_field else general).append(
                    e.message if name in by_field else f"{e.key}: {e.message}")
            elif e.section == "watch":
                folders.append(f"Folder {e.key[len('watch'):].split(']')[0].strip('[')}: {e.message}")
            elif e.section == "maintenance":
                row = e.key[len("maintenance"):].split("]")[0].strip("[")
                what = e.key.split(".", 1)[1] if "." in e.key else ""
                windows.append(f"Row {row}{' ' + what if what else ''}: {e.message}")
            else:
                general.append(f"{e.key}: {e.message}" if e.key else e.message)
        for key, label in self.errors.items():
            if key != "token":
                _show(label, by_field[key])
        _show(self.folder_errors, folders)
        _show(self.window_errors, windows)
        _show(self.general_errors, general)

    # -- test connection ------------------------------------------------------------------------

    def test_connection(self) -> None:
        _, config = self.validate()
        if config is None:
            self.test_result.setText("Correct the settings marked above first.")
            return
        typed = self.token.text().strip() or None
        self.test_button.setEnabled(False)
        self.test_result.setText("Testing…")

        def job() -> ProbeResult:
            token = typed
            if token is None:
                try:
                    token = credentials.get_token()
                except CredentialStoreUnavailable:
                    token = None
            return probe(config, token)

        def done(result: ProbeResult) -> None:
            self.last_probe = result
            self.test_button.setEnabled(True)
            self.test_result.setText(result.text)

        def failed(exc: BaseException) -> None:
            self.test_button.setEnabled(True)
            self.test_result.setText(f"The test could not run: {exc}")

        self.session.run_action("Testing the connection", job, done, failed)

    # -- saving ---------------------------------------------------------------------------------

    def save(self) -> None:
        data, config = self.validate()
        if config is None:
            return
        token = self.token.text().strip()
        if token:
            self.buttons.setEnabled(False)
            self.session.set_token(token, lambda _: self._write(data, config), self._token_failed)
        else:
            self._write(data, config)

    def _token_failed(self, exc: BaseException) -> None:
        self.buttons.setEnabled(True)
        if isinstance(exc, CredentialStoreUnavailable):
            _show(self.errors["token"], [NO_KEYRING])
        elif isinstance(exc, (ValueError, RelayError)):
            _show(self.errors["token"], [f"Not stored: {exc}."])
        else:
            log.error("storing the credential failed", exc_info=exc)
            _show(self.errors["token"], [f"Not stored: {exc}"])

    def _write(self, data: dict[str, Any], config: Config) -> None:
        self.buttons.setEnabled(True)
        if self.token.text():
            self.token.clear()
            self.token.setPlaceholderText("stored")
            _show(self.errors["token"], [])
        try:
            write_file(self.path, data)
        except OSError as exc:
            _show(self.general_errors, [f"Cannot write {self.path}: {exc.strerror or exc}"])
            return
        self.raw = data
        self.saved.emit(config)
        self.accept()
