"""The SAE directory in the Model & SAE manager: every downloadable release (the built-in subset, or all of an
installed sae-lens's), grouped by model, with a filter box. Where the list came from is said above it.

Thousands of SAEs stay quick: the tree holds the models and their releases; a release's SAEs are made when it is
opened (or, while a filter is set, for the releases shown). Choosing an SAE (double-click, or Enter) emits
``chosen("release/sae_id")``; the manager puts it in its download row."""

from __future__ import annotations

import re

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import QLabel, QLineEdit, QTreeWidget, QTreeWidgetItem, QVBoxLayout, QWidget

from ..core.assets.directory_search import ReleaseMatch, group_by_model, search
from ..core.assets.sae_directory import DirectorySAE, DirectorySource, SAEDirectory

COLUMNS = ("Model / release / SAE", "SAEs", "Hook", "d_sae", "L0", "Neuronpedia", "Repo")
ROLE = Qt.ItemDataRole.UserRole
EXPAND_ALL_UNDER = 40  # with a filter set, open every release when at most this many match
FILTER_DELAY_MS = 150


def _n(n: int, what: str) -> str:
    return f"{n} {what}{'' if n == 1 else 's'}"


def _natural(text: str) -> list[object]:
    """Sort key: numbers by value (layer_5 before layer_12)."""
    return [int(p) if p.isdigit() else p for p in re.split(r"(\d+)", text)]


class DirectoryView(QWidget):
    chosen = Signal(str)  # "release/sae_id"

    def __init__(self, directory: SAEDirectory | None, problem: str = "", parent: QWidget | None = None):
        super().__init__(parent)
        self.directory = directory
        self.source = QLabel()
        self.source.setWordWrap(True)
        self.filter = QLineEdit()
        self.filter.setPlaceholderText("Filter: release, model, hook or Neuronpedia id (every word must match), "
                                       "e.g. gemma-3-270m res 16k")
        self.filter.setClearButtonEnabled(True)
        self.tree = QTreeWidget()
        self.tree.setHeaderLabels(list(COLUMNS))
        self.tree.setUniformRowHeights(True)
        self.tree.setAlternatingRowColors(True)
        for i, w in enumerate((300, 55, 180, 60, 45, 300, 250)):
            self.tree.setColumnWidth(i, w)
        self.count = QLabel()
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.source)
        lay.addWidget(self.filter)
        lay.addWidget(self.tree, 1)
        lay.addWidget(self.count)
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(FILTER_DELAY_MS)
        self._timer.timeout.connect(self.apply_filter)
        self.filter.textChanged.connect(lambda _t: self._timer.start())
        self.filter.returnPressed.connect(self.apply_filter)
        self.tree.itemExpanded.connect(self._fill_release)
        self.tree.itemActivated.connect(self._activated)
        self._show_source(problem)
        self.apply_filter()

    def _show_source(self, problem: str) -> None:
        d = self.directory
        lines = [f"<b>SAE directory:</b> {d.describe()}" if d is not None else "<b>No SAE directory</b>"]
        if d is not None and not any(s.kind is DirectorySource.SAELENS for s in d.sources):
            lines.append("<i>Install sae-lens (pip install sae-lens) to list every release SAELens knows.</i>")
        for p in ([problem] if problem else []) + list(d.problems if d is not None else ()):
            lines.append(f"<span style='color:#d33'>{p}</span>")
        self.source.setText("<br>".join(lines))

    # --- the tree ------------------------------------------------------------------------------------------------
    def apply_filter(self) -> None:
        """Rebuild the tree for the filter text (models and releases; SAEs when a release is opened)."""
        self._timer.stop()
        text = self.filter.text().strip()
        matches = search(self.directory.releases.values(), text) if self.directory is not None else []
        self.tree.setUpdatesEnabled(False)
        self.tree.clear()
        groups = group_by_model(matches)
        open_all = bool(text) and len(matches) <= EXPAND_ALL_UNDER
        for g in groups:
            top = QTreeWidgetItem([g.model, str(g.n_saes)])
            top.setFirstColumnSpanned(False)
            font = top.font(0)
            font.setBold(True)
            top.setFont(0, font)
            for m in g.matches:
                top.addChild(self._release_item(m))
            self.tree.addTopLevelItem(top)
            if text:
                top.setExpanded(True)
                if open_all:
                    for i in range(top.childCount()):
                        child = top.child(i)
                        if child is not None:
                            child.setExpanded(True)  # fills it (itemExpanded)
        self.tree.setUpdatesEnabled(True)
        n_saes = sum(len(m.saes) for m in matches)
        self.count.setText(f"{_n(len(matches), 'release')}, {_n(n_saes, 'SAE')}, {_n(len(groups), 'model')}"
                           + (f" match {text!r}" if text else "") + " · double-click an SAE to download it")

    @staticmethod
    def _release_item(m: ReleaseMatch) -> QTreeWidgetItem:
        r = m.release
        n = f"{len(m.saes)}" if len(m.saes) == len(r.saes) else f"{len(m.saes)}/{len(r.saes)}"
        item = QTreeWidgetItem([r.name, n, "", "", "", "", r.repo_id])
        item.setData(0, ROLE, m)
        item.setChildIndicatorPolicy(QTreeWidgetItem.ChildIndicatorPolicy.ShowIndicator)
        item.setToolTip(0, f"{r.name}: {r.repo_id}, model {r.model or '?'}; loader {r.conversion_func or 'SAELens'};"
                           f" from the {r.source}")
        return item

    def _fill_release(self, item: QTreeWidgetItem) -> None:
        m = item.data(0, ROLE)
        if not isinstance(m, ReleaseMatch) or item.childCount():
            return
        item.addChildren([self._sae_item(m.release.name, s) for s in sorted(m.saes, key=lambda s: _natural(s.id))])

    @staticmethod
    def _sae_item(release: str, s: DirectorySAE) -> QTreeWidgetItem:
        item = QTreeWidgetItem([s.id, "", s.hook or "?", str(s.d_sae or "?"), f"{s.l0:g}" if s.l0 is not None else "",
                                s.neuronpedia or "", s.path])
        item.setData(0, ROLE, f"{release}/{s.id}")
        for col in (3, 4):
            item.setTextAlignment(col, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if s.pickled:
            for col in range(len(COLUMNS)):
                item.setForeground(col, Qt.GlobalColor.gray)
            item.setToolTip(0, f"{s.path} is a pickled checkpoint, which this app never loads")
        return item

    def _activated(self, item: QTreeWidgetItem, _col: int) -> None:
        ref = item.data(0, ROLE)
        if isinstance(ref, str):
            self.chosen.emit(ref)

    # --- for tests and the manager -------------------------------------------------------------------------------
    def visible_counts(self) -> tuple[int, int]:
        """(model groups, releases) in the tree now."""
        tops = [self.tree.topLevelItem(i) for i in range(self.tree.topLevelItemCount())]
        return len(tops), sum(t.childCount() for t in tops if t is not None)
