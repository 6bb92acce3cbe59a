"""The questions the app asks a person (confirmations, file and folder pickers, messages), in one
object so tests can answer them without opening modal dialogs."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QGridLayout,
    QLabel,
    QLineEdit,
    QMessageBox,
    QStyle,
    QWidget,
)

REASON_MAX = 500  # characters kept from a typed reason


class ReasonDialog(QDialog):
    """A confirmation that also takes an optional reason, kept with what the person decided.

    The reason field has the focus and Enter confirms: what is asked here can be undone (Escape
    or Cancel leaves everything as it was)."""

    def __init__(self, parent: QWidget | None, title: str, text: str, ok: str, label: str,
                 placeholder: str = "") -> None:
        super().__init__(parent)
        self.setWindowTitle(title)
        self.setModal(True)
        icon = QLabel()
        size = self.style().pixelMetric(QStyle.PixelMetric.PM_MessageBoxIconSize)
        icon.setPixmap(self.style().standardIcon(QStyle.StandardPixmap.SP_MessageBoxQuestion).pixmap(size, size))
        icon.setAlignment(Qt.AlignmentFlag.AlignTop)
        self.text = QLabel(text)
        self.text.setWordWrap(True)
        self.text.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.text.setMinimumWidth(420)
        self.label = QLabel(label)
        self.reason = QLineEdit()
        self.reason.setMaxLength(REASON_MAX)
        self.reason.setPlaceholderText(placeholder)
        self.reason.setClearButtonEnabled(True)
        self.reason.setAccessibleName("Reason")
        self.label.setBuddy(self.reason)
        self.buttons = QDialogButtonBox()
        self.ok = self.buttons.addButton(ok, QDialogButtonBox.ButtonRole.AcceptRole)
        self.cancel = self.buttons.addButton(QDialogButtonBox.StandardButton.Cancel)
        self.ok.setDefault(True)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        grid = QGridLayout(self)
        grid.setHorizontalSpacing(14)
        grid.addWidget(icon, 0, 0, 3, 1)
        grid.addWidget(self.text, 0, 1)
        grid.addWidget(self.label, 1, 1)
        grid.addWidget(self.reason, 2, 1)
        grid.addWidget(self.buttons, 3, 0, 1, 2)
        grid.setRowMinimumHeight(1, self.fontMetrics().height() + 10)
        grid.setAlignment(self.label, Qt.AlignmentFlag.AlignBottom)
        self.reason.setFocus(Qt.FocusReason.OtherFocusReason)

    def reason_text(self) -> str:
        return " ".join(self.reason.text().split())  # one line, however it was typed or pasted


class Prompts:
    def confirm(self, parent: QWidget | None, title: str, text: str, ok: str) -> bool:
        box = QMessageBox(QMessageBox.Icon.Warning, title, text, QMessageBox.StandardButton.Cancel, parent)
        yes = box.addButton(ok, QMessageBox.ButtonRole.AcceptRole)
        box.setDefaultButton(QMessageBox.StandardButton.Cancel)
        box.exec()
        return box.clickedButton() is yes

    def confirm_with_reason(self, parent: QWidget | None, title: str, text: str, ok: str, label: str,
                            placeholder: str = "") -> str | None:
        """The reason typed ("" when none), or None when the person cancelled."""
        dialog = ReasonDialog(parent, title, text, ok, label, placeholder)
        try:
            return dialog.reason_text() if dialog.exec() == QDialog.DialogCode.Accepted else None
        finally:
            dialog.deleteLater()

    def save_path(self, parent: QWidget | None, title: str, suggested: Path) -> Path | None:
        name, _ = QFileDialog.getSaveFileName(parent, title, str(suggested), "CSV files (*.csv);;All files (*)")
        return Path(name) if name else None

    def folder(self, parent: QWidget | None, title: str, start: Path | None) -> Path | None:
        name = QFileDialog.getExistingDirectory(parent, title, str(start) if start else "")
        return Path(name) if name else None

    def error(self, parent: QWidget | None, title: str, text: str) -> None:
        QMessageBox.critical(parent, title, text)
