"""The feature panel: every feature with label, density and max activation; instant search; sorting by
statistics or by activity in this conversation; pin / steer / colour actions."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QAbstractTableModel, QModelIndex, Qt, Signal
from PySide6.QtGui import QAction
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QMenu,
    QPushButton,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from ..core.features.naming import DEMO_MARK, USER_MARK, LabelSource
from .ticker import Ticker

SORTS = {
    "id": "Feature id",
    "active_max": "Active in this conversation (max)",
    "active_sum": "Active in this conversation (sum)",
    "max": "Max activation",
    "density": "Density",
    "pinned": "Pinned",
}
COLS = ("", "id", "name", "density", "max act.", "in chat")
SOURCE_NAMES = {LabelSource.USER: "your label", LabelSource.EXPLANATION: "explanation",
                LabelSource.TOKENS: "automatic label (top tokens)"}


def name_cell(cat, f: int) -> str:
    """A feature's name as the list shows it: the user's marked ✎; a demo-set member marked ◆ with its tag after
    the name (the marker stays in sight when a narrow column cuts the tag off)."""
    name = cat.label(f) or "—"
    if cat.label_source(f) is LabelSource.USER:
        name = f"{USER_MARK} {name}"
    tag = cat.demo_tag(f)
    return f"{DEMO_MARK} {name}   [{tag}]" if tag else name


def name_tooltip(cat, f: int) -> str:
    """The full name, where it comes from, the explanation a user's label hides, the tag and the top tokens."""
    src = cat.label_source(f)
    lines = [f"#{f} {cat.label(f) or '—'}", f"({SOURCE_NAMES[src]})"]
    if src is LabelSource.USER and cat.explanation_text(f):
        lines.append(f"explanation: {cat.explanation_text(f)}")
    if cat.demo_tag(f):
        lines.append(cat.demo_tag(f))
    if cat.top_tokens[f]:
        lines.append(f"top tokens: {cat.top_tokens[f]}")
    return "\n".join(lines)


class FeatureTableModel(QAbstractTableModel):
    def __init__(self, parent=None):
        super().__init__(parent)
        self.cat = None  # core FeatureCatalog
        self.rows = np.zeros(0, np.int64)
        self.pinned: set[int] = set()
        self.edited = lambda f, text: None  # set by the panel

    def set_rows(self, rows: np.ndarray) -> None:
        self.beginResetModel()
        self.rows = rows
        self.endResetModel()

    def rowCount(self, parent=QModelIndex()) -> int:  # noqa: N802
        return 0 if parent.isValid() else len(self.rows)

    def columnCount(self, parent=QModelIndex()) -> int:  # noqa: N802
        return len(COLS)

    def headerData(self, section, orientation, role=Qt.ItemDataRole.DisplayRole):  # noqa: N802
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return COLS[section]
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.ToolTipRole:
            return (
                "Pinned (plotted in the strip chart)",
                "Feature id",
                "Name: your label ✎, else the feature's explanation, else its top tokens (double-click to edit)",
                "Fraction of tokens on which it fires",
                "Largest activation seen in the training data",
                "Largest activation in this conversation",
            )[section]
        return None

    _ROLES = frozenset((Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.EditRole, Qt.ItemDataRole.UserRole,
                        Qt.ItemDataRole.TextAlignmentRole, Qt.ItemDataRole.ToolTipRole))

    def data(self, index, role=Qt.ItemDataRole.DisplayRole):
        if (
            role not in self._ROLES or self.cat is None or not index.isValid()
        ):  # fast exit: views ask for ~10 roles per cell
            return None
        f = int(self.rows[index.row()])
        c = index.column()
        cat = self.cat
        if role == Qt.ItemDataRole.DisplayRole:
            if c == 0:
                return "★" if f in self.pinned else ""
            if c == 1:
                return str(f)
            if c == 2:
                return name_cell(cat, f)
            if c == 3:
                d = cat.density[f]
                return "" if not np.isfinite(d) else f"{100 * d:.3g}%"
            if c == 4:
                m = cat.max_activation[f]
                return "" if not np.isfinite(m) else f"{m:.3g}"
            if c == 5:
                v = cat.conv_max[f]
                return f"{v:.3g}" if v > 0 else ""
        if role == Qt.ItemDataRole.EditRole and c == 2:
            return cat.label(f)
        if role == Qt.ItemDataRole.UserRole:
            return f
        if role == Qt.ItemDataRole.TextAlignmentRole and c in (1, 3, 4, 5):
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if role == Qt.ItemDataRole.ToolTipRole and c == 2:
            return name_tooltip(cat, f) + "\nDouble-click to edit the label"
        return None

    def flags(self, index):
        fl = super().flags(index)
        return fl | Qt.ItemFlag.ItemIsEditable if index.column() == 2 else fl

    def setData(self, index, value, role=Qt.ItemDataRole.EditRole):  # noqa: N802
        if role != Qt.ItemDataRole.EditRole or index.column() != 2 or self.cat is None:
            return False
        self.edited(int(self.rows[index.row()]), str(value))  # the controller saves it and tells the views
        self.dataChanged.emit(index, index)
        return True


class FeaturePanel(QWidget):
    featureSelected = Signal(int)
    pinToggled = Signal(int)
    steerRequested = Signal(int)
    colorRequested = Signal(int)
    labelEdited = Signal(int, str)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.cat = None  # core FeatureCatalog
        self.search = QLineEdit()
        self.search.setPlaceholderText("Search name, explanation, top token or #id  (Ctrl+F)")
        self.search.setClearButtonEnabled(True)
        self.search.setToolTip("Type words that must all appear in a feature's label, explanation, demo-set tag or "
                               "top tokens, or a feature id")
        self.search.textChanged.connect(self.refresh)
        self.sort = QComboBox()
        for k, v in SORTS.items():
            self.sort.addItem(v, k)
        self.sort.setToolTip("Order of the list. 'Active in this conversation' hides BOS and very dense features.")
        self.sort.currentIndexChanged.connect(self.refresh)
        self.model = FeatureTableModel(self)
        self.model.edited = self.labelEdited.emit
        self.table = QTableView()
        self.table.setModel(self.model)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.DoubleClicked
                                   | QAbstractItemView.EditTrigger.EditKeyPressed)
        self.table.setWordWrap(False)  # long explanations end in "…" (full text in the tooltip)
        self.table.setTextElideMode(Qt.TextElideMode.ElideRight)
        vh = self.table.verticalHeader()
        vh.hide()
        vh.setSectionResizeMode(QHeaderView.ResizeMode.Fixed)  # never measure thousands of rows
        vh.setDefaultSectionSize(22)
        hh = self.table.horizontalHeader()
        hh.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        for col, width in enumerate((22, 44, 0, 56, 60, 50)):  # the rest is the name's
            if width:
                self.table.setColumnWidth(col, width)
        hh.setSectionResizeMode(2, QHeaderView.ResizeMode.Stretch)
        self.table.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.table.customContextMenuRequested.connect(self._menu)
        self.table.selectionModel().currentRowChanged.connect(self._current)
        self.count = QLabel("")
        self.pin_btn = QPushButton("Pin")
        self.pin_btn.setToolTip("Pin / unpin the selected feature: pinned features are plotted live")
        self.steer_btn = QPushButton("Steer")
        self.steer_btn.setToolTip("Add the selected feature to the steering panel")
        self.color_btn = QPushButton("Colour tokens")
        self.color_btn.setToolTip("Colour the chat's tokens by the selected feature's activation")
        self.pin_btn.clicked.connect(lambda: self._act(self.pinToggled))
        self.steer_btn.clicked.connect(lambda: self._act(self.steerRequested))
        self.color_btn.clicked.connect(lambda: self._act(self.colorRequested))
        top = QHBoxLayout()
        top.addWidget(self.search, 1)
        top.addWidget(self.sort)
        buttons = QHBoxLayout()
        for b in (self.pin_btn, self.steer_btn, self.color_btn):
            buttons.addWidget(b)
        buttons.addStretch(1)
        buttons.addWidget(self.count)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.addLayout(top)
        lay.addWidget(self.table, 1)
        lay.addLayout(buttons)
        self.placeholder = QLabel("No SAE loaded: features appear here once a model and an SAE are loaded.")
        self.placeholder.setWordWrap(True)
        lay.addWidget(self.placeholder)
        self.ticker = Ticker(500, self._activity_tick, self)  # "active in this conversation" re-sorts ≤ 2×/s

    def set_catalog(self, cat) -> None:
        self.cat = cat
        self.model.cat = cat
        self.placeholder.setVisible(cat is None)
        self.refresh()

    def set_sort(self, key: str) -> None:
        """Order the list by one of ``SORTS``' keys."""
        self.sort.setCurrentIndex(max(0, self.sort.findData(key)))

    def set_pinned(self, pinned) -> None:
        self.model.pinned = set(pinned)
        self.table.viewport().update()

    def current_feature(self) -> int | None:
        idx = self.table.currentIndex()
        return None if not idx.isValid() else int(self.model.rows[idx.row()])

    def ids(self) -> np.ndarray:
        """Feature ids in the order shown (search + sort)."""
        cat = self.cat
        if cat is None:
            return np.zeros(0, np.int64)
        ids = cat.search(self.search.text())
        key = self.sort.currentData()
        if key in ("active_max", "active_sum"):
            active = cat.active_ids("max" if key == "active_max" else "sum")
            keep = np.isin(active, ids)
            return active[keep]
        if key == "max":
            return ids[np.argsort(-np.nan_to_num(cat.max_activation[ids], nan=-1), kind="stable")]
        if key == "density":
            return ids[np.argsort(-np.nan_to_num(cat.density[ids], nan=-1), kind="stable")]
        if key == "pinned":
            return np.array([f for f in ids if f in self.model.pinned], np.int64)
        return ids

    def refresh(self) -> None:
        cur = self.current_feature()
        rows = self.ids()
        self.model.set_rows(rows)
        n = 0 if self.cat is None else self.cat.d_sae
        self.count.setText(f"{len(rows)} of {n}")
        if cur is not None:
            self.select(cur, emit=False, scroll=False)

    def select(self, f: int, emit: bool = True, scroll: bool = True) -> None:
        hits = np.nonzero(self.model.rows == f)[0]
        if not len(hits) and emit:
            self.search.blockSignals(True)
            self.search.setText("")
            self.search.blockSignals(False)
            self.sort.setCurrentIndex(0)
            self.refresh()
            hits = np.nonzero(self.model.rows == f)[0]
        if len(hits):
            idx = self.model.index(int(hits[0]), 1)
            self.table.selectionModel().blockSignals(not emit)
            self.table.setCurrentIndex(idx)
            self.table.selectionModel().blockSignals(False)
            if scroll:
                self.table.scrollTo(idx)
        if emit:
            self.featureSelected.emit(f)

    def activity_changed(self) -> None:
        self.ticker.poke()

    def _activity_tick(self) -> None:
        if self.sort.currentData() in ("active_max", "active_sum"):
            self.refresh()
        elif self.model.rowCount():  # repaint just the "in chat" column
            m = self.model
            m.dataChanged.emit(m.index(0, 5), m.index(m.rowCount() - 1, 5), [Qt.ItemDataRole.DisplayRole])

    def _current(self, cur, _prev) -> None:
        if cur.isValid():
            self.featureSelected.emit(int(self.model.rows[cur.row()]))

    def _act(self, sig) -> None:
        f = self.current_feature()
        if f is not None:
            sig.emit(f)

    def _menu(self, pos) -> None:
        f = self.current_feature()
        if f is None:
            return
        m = QMenu(self)
        for text, sig in (
            ("Pin / unpin", self.pinToggled),
            ("Steer with this feature", self.steerRequested),
            ("Colour tokens by this feature", self.colorRequested),
        ):
            a = QAction(text, m)
            a.triggered.connect(lambda _=False, s=sig: s.emit(f))
            m.addAction(a)
        edit = QAction("Edit label…", m)
        edit.triggered.connect(lambda: self.table.edit(self.model.index(self.table.currentIndex().row(), 2)))
        m.addAction(edit)
        m.exec(self.table.viewport().mapToGlobal(pos))
