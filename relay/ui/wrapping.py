"""A word-wrapped label that keeps the height its text needs at its width.

Qt gives a word-wrapped QLabel inside a form layout (and in a dialog sized before the text came)
the height of fewer lines than it wraps to, so the text is cut or drawn over the row below. This
label sets its minimum height from ``heightForWidth`` whenever its text or width changes, and
tells layouts it has no height-for-width of its own, so they go by that minimum: the layout makes
room, and a window too small for it grows.
"""

from __future__ import annotations

from PySide6.QtGui import QResizeEvent
from PySide6.QtWidgets import QLabel, QSizePolicy, QWidget


class WrappingLabel(QLabel):
    def __init__(self, text: str = "", parent: QWidget | None = None) -> None:
        super().__init__(text, parent)
        self.setWordWrap(True)
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Minimum)

    def hasHeightForWidth(self) -> bool:  # noqa: N802 - Qt's name
        return False  # layouts use the minimum height set below, which they honour everywhere

    def setText(self, text: str) -> None:  # noqa: N802 - Qt's name
        super().setText(text)
        self._fit()

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802 - Qt's name
        super().resizeEvent(event)
        self._fit()

    def _fit(self) -> None:
        width = self.width() if self.width() > 0 else self.sizeHint().width()
        needed = self.heightForWidth(width) if self.text() else 0
        if needed >= 0 and needed != self.minimumHeight():
            self.setMinimumHeight(needed)
            self.updateGeometry()
