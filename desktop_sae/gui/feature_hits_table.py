"""A table of features found by a finder (contrast, a chat selection): one row per feature with numbers and the
label, and Steer / Inspect / Pin buttons on every row. It renders rows it is given and forwards the buttons."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QTableWidget,
    QTableWidgetItem,
    QToolButton,
    QWidget,
)

ACTIONS = (
    ("Steer", "Add this feature to the steering set (3× its max activation; adjust it in the steering panel)"),
    ("Inspect", "Show this feature in the feature list and its dashboard"),
    ("Pin", "Pin / unpin: pinned features are plotted live while the model writes"),
)


def name_cell(name: str, auto: str, tag: str | None = None) -> tuple[str, str]:
    """(cell, tooltip) for a hit's name: the feature's name (``name``, from the catalog) else the hit's automatic
    label; the tooltip holds the full name, the demo-set tag and the automatic label when it differs."""
    shown = name or auto or "—"
    tip = [shown, *([tag] if tag else []), *([f"top tokens: {auto}"] if auto and auto != shown else [])]
    return shown, "\n".join(tip)


class FeatureHitsTable(QTableWidget):
    """``set_rows(columns, rows)``: ``rows`` are (feature, cells, tooltip) with cells as display strings; the first
    column is the feature id, the last the row's buttons."""

    steerRequested = Signal(int)
    inspectRequested = Signal(int)
    pinRequested = Signal(int)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.features: list[int] = []
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setAlternatingRowColors(True)
        self.setWordWrap(False)  # a long name ends in "…"; its tooltip has it all
        self.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.verticalHeader().hide()
        self.verticalHeader().setDefaultSectionSize(26)
        self.cellDoubleClicked.connect(lambda r, _c: self.inspectRequested.emit(self.features[r]))

    def set_rows(self, columns, rows, numeric=(), stretch: int | None = None) -> None:
        """Columns ``numeric`` are right-aligned; ``stretch`` takes the spare width (default: the last one)."""
        self.clear()
        self.features = [int(f) for f, _c, _t in rows]
        n = len(columns)
        self.setColumnCount(n + 1)
        self.setHorizontalHeaderLabels([*columns, ""])
        self.setRowCount(len(rows))
        for r, (f, cells, tip) in enumerate(rows):
            for c, text in enumerate((f"#{f}", *cells)):
                item = QTableWidgetItem(text)
                if c == 0 or c in numeric:
                    item.setTextAlignment(int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter))
                if tip:
                    item.setToolTip(tip)
                self.setItem(r, c, item)
            self.setCellWidget(r, n, self._buttons(f))
        hh = self.horizontalHeader()
        hh.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        hh.setSectionResizeMode(n - 1 if stretch is None else stretch, QHeaderView.ResizeMode.Stretch)

    def _buttons(self, f: int) -> QWidget:
        w = QWidget()
        lay = QHBoxLayout(w)
        lay.setContentsMargins(2, 0, 2, 0)
        lay.setSpacing(2)
        for (text, tip), sig in zip(ACTIONS, (self.steerRequested, self.inspectRequested, self.pinRequested)):
            b = QToolButton()
            b.setText(text)
            b.setToolTip(tip)
            b.setAutoRaise(False)
            b.clicked.connect(lambda _=False, s=sig: s.emit(f))
            if text == "Pin":
                b.setCheckable(True)
                b.setObjectName("pin")
            lay.addWidget(b)
        return w

    def button(self, row: int, text: str) -> QToolButton:
        """The row's Steer, Inspect or Pin button."""
        w = self.cellWidget(row, self.columnCount() - 1)
        return next(b for b in w.findChildren(QToolButton) if b.text() == text)

    def show_pinned(self, pinned) -> None:
        pinned = set(pinned)
        for r, f in enumerate(self.features):
            b = self.button(r, "Pin")
            b.blockSignals(True)
            b.setChecked(f in pinned)
            b.blockSignals(False)
