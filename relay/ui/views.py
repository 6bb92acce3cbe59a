"""The queue's views (Pending, Failed, Dead-letter, Discarded, Sent, Duplicates skipped, Files):
what each shows, its count in the status object, and how its table's columns are sized. Ctrl+1 to
Ctrl+7 open them in this order."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from PySide6.QtWidgets import QTableView

from relay.store.models import ItemState
from relay.ui.models import PagedModel


@dataclass(frozen=True)
class ViewSpec:
    key: str
    title: str
    kind: str  # items | duplicates | files
    states: tuple[ItemState, ...] = ()
    hidden: tuple[str, ...] = ()  # columns that say nothing in this view
    dot: str | None = None  # accent shown next to the count when it is not zero
    last_min: int = 260  # the last visible column (reason or receipt) keeps at least this width
    widths: tuple[tuple[str, int], ...] = ()  # this view's own column widths, over WIDTHS


VIEWS = (
    ViewSpec("pending", "Pending", "items", ("sending", "pending"), hidden=("receipt",)),
    ViewSpec("failed", "Failed", "items", ("failed",), hidden=("state", "next", "receipt"), dot="failed",
             last_min=420),
    ViewSpec("dead", "Dead-letter", "items", ("dead",), hidden=("state", "next", "receipt"), dot="dead",
             last_min=420),
    # Set aside by a person: listed with why they had failed, never marked as needing attention.
    ViewSpec("discarded", "Discarded", "items", ("discarded",), hidden=("state", "next", "receipt"),
             last_min=420),
    ViewSpec("sent", "Sent", "items", ("sent",), hidden=("state", "next", "reason")),
    ViewSpec("duplicates", "Duplicates skipped", "duplicates"),
    # Why a file or its rows were rejected is what a person opens this view for: room for it.
    ViewSpec("files", "Files", "files", widths=(("reason", 380), ("duplicates", 82))),
)
VIEW_DOTS = {"pending": "pending", "failed": "none", "dead": "none", "discarded": "discarded", "sent": "sent",
             "duplicates": "duplicate", "files": "duplicate"}
WIDTHS = {"received": 122, "source": 185, "tracking": 150, "state": 90, "attempts": 66, "next": 110,
          "reason": 160, "seen": 122, "original": 110, "original_state": 100, "original_file": 220, "name": 230,
          "outcome": 100, "accepted": 66, "duplicates": 82, "rejected": 100, "moved": 260, "receipt": 280}
FIT_SAMPLE_ROWS = 100  # measured from the text itself: Qt's resize-to-contents asks every cell, slowly
CELL_PADDING = 16
FIT_COLUMNS = {"source": (140, 260), "tracking": (110, 290), "original_file": (140, 260), "name": (140, 280)}


def view_total(spec: ViewSpec, stats: dict[str, Any]) -> int | None:
    if not stats:
        return None
    if spec.kind == "items":
        return sum(int(stats.get(s, 0)) for s in spec.states)
    if spec.kind == "duplicates":
        return int(stats.get("duplicates", 0))
    ignored = stats.get("ignored_files")
    return (int(stats.get("files_processed", 0)) + int(stats.get("files_rejected", 0))
            + (len(ignored) if isinstance(ignored, list) else 0))


def fit_columns(table: QTableView, model: PagedModel, last_min: int, now: float) -> None:
    """Once, when the first rows arrive: the text columns as wide as their content, within
    bounds, and narrower again if the last column (the reason, or the receipt) would get less
    than ``last_min`` of the visible width."""
    if table.property("fitted"):
        return
    fit = [i for i, col in enumerate(model.columns) if col.key in FIT_COLUMNS and not table.isColumnHidden(i)]
    if model.rowCount():
        table.setProperty("fitted", True)  # an empty view is fitted again when rows come
        metrics = table.fontMetrics()
        sample = [model.row(r) for r in range(min(model.rowCount(), FIT_SAMPLE_ROWS))]
        for i in fit:
            col = model.columns[i]
            low, high = FIT_COLUMNS[col.key]
            widest = max(metrics.horizontalAdvance(col.text(row, now)) for row in sample)
            table.setColumnWidth(i, max(low, min(high, widest + CELL_PADDING)))
    visible = [i for i in range(model.columnCount()) if not table.isColumnHidden(i)]
    if not visible:
        return
    others = sum(table.columnWidth(i) for i in visible[:-1])
    over = others + last_min - table.viewport().width()
    if over > 0 and fit:
        spare = {i: table.columnWidth(i) - FIT_COLUMNS[model.columns[i].key][0] for i in fit}
        total = sum(spare.values()) or 1
        for i in fit:
            table.setColumnWidth(i, table.columnWidth(i) - min(spare[i], round(over * spare[i] / total)))
