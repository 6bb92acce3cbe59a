"""The line at the top of the window: how much waits and since when, the last delivery, and below
it anything that needs reading (a pause and why, maintenance, problems)."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from relay.ui import status_text as words
from relay.ui.icons import look_icon


class SummaryBar(QFrame):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.icon = QLabel()
        self.icon.setFixedSize(28, 28)
        self.headline = QLabel("Opening the outbox…")
        self.headline.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.headline.setWordWrap(True)  # a long headline wraps instead of widening the window
        font = self.headline.font()
        font.setPointSizeF(font.pointSizeF() * 1.15)
        self.headline.setFont(font)
        self.line = QLabel("")
        self.line.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.line.setWordWrap(True)
        self.notes = QVBoxLayout()
        self.notes.setContentsMargins(0, 0, 0, 0)
        self.notes.setSpacing(2)
        text = QVBoxLayout()
        text.setContentsMargins(0, 0, 0, 0)
        text.setSpacing(2)
        text.addWidget(self.headline)
        text.addWidget(self.line)
        text.addLayout(self.notes)
        row = QHBoxLayout(self)
        row.setContentsMargins(10, 8, 10, 6)
        row.addWidget(self.icon, 0, Qt.AlignmentFlag.AlignTop)
        row.addLayout(text, 1)
        self._shown: tuple[Any, ...] = ()

    def update_from(self, stats: dict[str, Any]) -> None:
        lk = words.look(stats)
        line, notes = words.summary(stats)
        shown = (lk.kind, lk.headline, line, tuple(notes))
        if shown == self._shown:
            return
        self._shown = shown
        self.icon.setPixmap(look_icon(lk.kind).pixmap(28, 28))
        self.icon.setToolTip(lk.kind)
        self.headline.setText(lk.headline)
        self.line.setText(line)
        while self.notes.count():
            item = self.notes.takeAt(0)
            widget = item.widget() if item is not None else None
            if widget is not None:
                widget.deleteLater()
        for kind, note in notes:
            if note == lk.headline:
                continue
            row = QWidget()
            h = QHBoxLayout(row)
            h.setContentsMargins(0, 0, 0, 0)
            dot = QLabel()
            dot.setPixmap(look_icon(kind).pixmap(14, 14))
            label = QLabel(note)
            label.setWordWrap(True)
            label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            h.addWidget(dot, 0, Qt.AlignmentFlag.AlignTop)
            h.addWidget(label, 1)
            self.notes.addWidget(row)

    def texts(self) -> list[str]:
        """Everything the bar says, for tests and accessibility checks."""
        out = [self.headline.text(), self.line.text()]
        for i in range(self.notes.count()):
            at = self.notes.itemAt(i)
            w = at.widget() if at is not None else None
            if w is not None:
                out += [lbl.text() for lbl in w.findChildren(QLabel) if lbl.text()]
        return out
