"""Icons drawn with QPainter (no image files to ship): the tray's four looks and small state dots.

These accents are the only fixed colours in the app; everything else uses the palette so the
system's light or dark appearance is respected.
"""

from __future__ import annotations

from functools import cache

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QBrush, QColor, QIcon, QPainter, QPainterPath, QPalette, QPen, QPixmap, QPolygonF

from relay.ui.status_text import ATTENTION, DELIVERED, SENDING, WAITING

ACCENTS = {
    DELIVERED: "#2e7d32",  # green
    SENDING: "#1565c0",  # blue
    WAITING: "#f2a900",  # amber
    ATTENTION: "#c62828",  # red
}
STATE_ACCENTS = {
    "pending": ACCENTS[SENDING],
    "sending": ACCENTS[SENDING],
    "sent": ACCENTS[DELIVERED],
    "failed": ACCENTS[ATTENTION],
    "dead": "#ad1457",
    "discarded": "#607d8b",  # a person's decision: blue-grey, never an alarm
    "duplicate": "#757575",
    "none": "#a0a0a0",
    "accepted": ACCENTS[DELIVERED],
    "rejected": ACCENTS[ATTENTION],
}
SIZES = (16, 20, 22, 24, 32, 48, 64)


def _glyph(p: QPainter, kind: str, s: float) -> None:
    ink = QColor("#3a2a00") if kind == WAITING else QColor("white")
    pen = QPen(ink, s * 0.11, Qt.PenStyle.SolidLine, Qt.PenCapStyle.RoundCap, Qt.PenJoinStyle.RoundJoin)
    p.setPen(pen)
    p.setBrush(Qt.BrushStyle.NoBrush)
    if kind == DELIVERED:  # check mark
        path = QPainterPath(QPointF(s * 0.29, s * 0.52))
        path.lineTo(s * 0.44, s * 0.67)
        path.lineTo(s * 0.72, s * 0.36)
        p.drawPath(path)
    elif kind == SENDING:  # arrow pointing up-right: on its way
        p.drawLine(QPointF(s * 0.32, s * 0.68), QPointF(s * 0.66, s * 0.34))
        p.setBrush(QBrush(ink))
        p.setPen(QPen(ink, s * 0.04, Qt.PenStyle.SolidLine, Qt.PenCapStyle.RoundCap, Qt.PenJoinStyle.RoundJoin))
        p.drawPolygon(QPolygonF([QPointF(s * 0.74, s * 0.26), QPointF(s * 0.72, s * 0.52),
                                 QPointF(s * 0.48, s * 0.28)]))
    elif kind == WAITING:  # clock
        p.drawLine(QPointF(s * 0.5, s * 0.5), QPointF(s * 0.5, s * 0.27))
        p.drawLine(QPointF(s * 0.5, s * 0.5), QPointF(s * 0.67, s * 0.6))
    else:  # exclamation mark
        p.drawLine(QPointF(s * 0.5, s * 0.24), QPointF(s * 0.5, s * 0.56))
        p.setBrush(QBrush(ink))
        p.setPen(Qt.PenStyle.NoPen)
        r = s * 0.075
        p.drawEllipse(QPointF(s * 0.5, s * 0.73), r, r)


def draw_look(kind: str, size: int) -> QPixmap:
    pm = QPixmap(size, size)
    pm.fill(Qt.GlobalColor.transparent)
    p = QPainter(pm)
    p.setRenderHint(QPainter.RenderHint.Antialiasing)
    accent = QColor(ACCENTS[kind])
    margin = max(0.5, size * 0.04)
    p.setPen(QPen(accent.darker(130), max(1.0, size * 0.04)))
    p.setBrush(QBrush(accent))
    p.drawEllipse(QRectF(margin, margin, size - 2 * margin, size - 2 * margin))
    _glyph(p, kind, float(size))
    p.end()
    return pm


@cache
def look_icon(kind: str) -> QIcon:
    icon = QIcon()
    for size in SIZES:
        icon.addPixmap(draw_look(kind, size))
    return icon


@cache
def state_dot(state: str, size: int = 12) -> QIcon:
    """A small filled circle in the state's accent, for table cells and the view list."""
    icon = QIcon()
    for scale in (1, 2):
        px = size * scale
        pm = QPixmap(px, px)
        pm.fill(Qt.GlobalColor.transparent)
        p = QPainter(pm)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(QColor(STATE_ACCENTS.get(state, "#757575")))
        r = px * 0.32
        p.drawEllipse(QPointF(px / 2, px / 2), r, r)
        p.end()
        pm.setDevicePixelRatio(scale)
        icon.addPixmap(pm)
    return icon


def attention_text_color(palette: QPalette) -> QColor:
    """The attention accent for text, readable on the palette's background (light or dark)."""
    dark = palette.color(QPalette.ColorRole.Window).lightness() < 128
    return QColor("#ef9a9a") if dark else QColor(ACCENTS[ATTENTION])
