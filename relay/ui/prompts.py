"""The questions the app asks a person (confirmations, file and folder pickers, messages), in one
object so tests can answer them without opening modal dialogs."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import QFileDialog, QMessageBox, QWidget


class Prompts:
    def confirm(self, parent: QWidget | None, title: str, text: str, ok: str) -> bool:
        box = QMessageBox(QMessageBox.Icon.Warning, title, text, QMessageBox.StandardButton.Cancel, parent)
        yes = box.addButton(ok, QMessageBox.ButtonRole.AcceptRole)
        box.setDefaultButton(QMessageBox.StandardButton.Cancel)
        box.exec()
        return box.clickedButton() is yes

    def save_path(self, parent: QWidget | None, title: str, suggested: Path) -> Path | None:
        name, _ = QFileDialog.getSaveFileName(parent, title, str(suggested), "CSV files (*.csv);;All files (*)")
        return Path(name) if name else None

    def folder(self, parent: QWidget | None, title: str, start: Path | None) -> Path | None:
        name = QFileDialog.getExistingDirectory(parent, title, str(start) if start else "")
        return Path(name) if name else None

    def error(self, parent: QWidget | None, title: str, text: str) -> None:
        QMessageBox.critical(parent, title, text)
