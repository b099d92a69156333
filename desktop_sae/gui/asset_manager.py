"""The Model & SAE manager (File > Models and SAEs…): every model and SAE on this machine with where it comes from,
Import…, a hub download row, the compatibility report of the selected pair, and Open in window.

The lists come from ``core.assets`` (configs and headers only, so they fill in a moment); the report from
``core.assets.compatibility.check_pair``; opening goes through the model slot's load path, so the current pair
stays until the new one is ready. A pair the report refuses is not opened: the reasons are shown instead."""

from __future__ import annotations

from html import escape
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QDialog,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QMenu,
    QPushButton,
    QSplitter,
    QTabWidget,
    QTextBrowser,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from ..app.job_handles import Jobs
from ..app.loading import LoadRequest
from ..app.model_slot import ModelSlot
from ..core.assets.metadata import human_size
from ..core.assets.registry import list_models, list_saes
from ..core.assets.sae_directory import SAEDirectory, load_sae_directory
from ..core.support.errors import DesktopSAEError
from .asset_download import DownloadPanel
from .asset_explanations import ExplanationsPanel
from .sae_directory_view import DirectoryView

MODEL_COLUMNS = ("Model", "Source", "Format", "Size", "Width", "Layers")
SAE_COLUMNS = ("SAE", "Source", "Format", "Size", "d_in", "d_sae", "Hook", "Trained on")
COLORS = {"error": "#d33", "warning": "#c80", "note": "#777"}
MARKS = {"error": "✖", "warning": "⚠", "note": "·"}


def _tree(columns, widths) -> QTreeWidget:
    t = QTreeWidget()
    t.setHeaderLabels(list(columns))
    t.setRootIsDecorated(False)
    t.setAlternatingRowColors(True)
    t.setUniformRowHeights(True)
    for i, w in enumerate(widths):
        t.setColumnWidth(i, w)
    t.header().setStretchLastSection(False)
    t.header().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)  # the name takes the room left
    return t


def _row(tree: QTreeWidget, asset, cells) -> QTreeWidgetItem:
    item = QTreeWidgetItem([str(c) for c in cells])
    item.setData(0, Qt.ItemDataRole.UserRole, asset)
    for col in (3, 4, 5):  # size, width/layers or d_in/d_sae
        item.setTextAlignment(col, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
    tip = asset.path if asset is not None else "Open the model without an SAE"
    if asset is not None and asset.problem:
        tip += "\n\n" + asset.problem
        for col in range(len(cells)):
            item.setForeground(col, Qt.GlobalColor.gray)
    item.setToolTip(0, tip)
    tree.addTopLevelItem(item)
    return item


class AssetManager(QDialog):
    def __init__(self, model: ModelSlot, jobs: Jobs, parent: QWidget | None = None,
                 directory_file: str | None = None):
        super().__init__(parent)
        self.setWindowTitle("Models and SAEs")
        self.resize(1180, 720)
        self.model = model
        self.models = _tree(MODEL_COLUMNS, (0, 80, 70, 90, 70, 70))
        self.saes = _tree(SAE_COLUMNS, (0, 80, 90, 90, 60, 70, 200, 170))
        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(self.models)
        split.addWidget(self.saes)
        split.setSizes([170, 250])
        directory, problem = _read_directory(directory_file)
        self.directory = DirectoryView(directory, problem)
        self.explanations = ExplanationsPanel(jobs, model, directory.releases if directory else None)
        local = QWidget()
        local_lay = QVBoxLayout(local)
        local_lay.setContentsMargins(0, 0, 0, 0)
        local_lay.addWidget(split, 1)
        local_lay.addWidget(self.explanations)
        self.tabs = QTabWidget()
        self.tabs.addTab(local, "On this machine")
        self.tabs.addTab(self.directory, "SAE directory (download)")
        self.download = DownloadPanel(jobs, directory_file, releases=directory.releases if directory else None)
        self.directory.chosen.connect(self.download.use_release)
        self.download.finished.connect(self._downloaded)
        self.report_view = QTextBrowser()
        self.report_view.setMaximumHeight(130)
        self.error = QLabel("")
        self.error.setWordWrap(True)
        self.error.setStyleSheet("color: #d33")
        self.import_btn = QPushButton("Import…")
        menu = QMenu(self.import_btn)
        menu.addAction("A folder (Hugging Face model, SAELens or sparsify SAE)…", self._import_folder)
        menu.addAction("A file (.gguf model, Gemma Scope params.npz)…", self._import_file)
        self.import_btn.setMenu(menu)
        self.refresh_btn = QPushButton("Refresh")
        self.open_btn = QPushButton("Open in window")
        self.open_btn.setDefault(True)
        self.open_btn.setToolTip("Load the selected model and SAE into the window (the current pair stays until "
                                 "they are ready)")
        close = QPushButton("Close")
        buttons = QHBoxLayout()
        for b in (self.import_btn, self.refresh_btn):
            buttons.addWidget(b)
        buttons.addStretch(1)
        buttons.addWidget(self.open_btn)
        buttons.addWidget(close)
        lay = QVBoxLayout(self)
        lay.addWidget(self.tabs, 1)
        lay.addWidget(self.download)
        lay.addWidget(QLabel("Compatibility of the selected pair"))
        lay.addWidget(self.report_view)
        lay.addWidget(self.error)
        lay.addLayout(buttons)
        self.refresh_btn.clicked.connect(lambda: self.refresh())
        self.open_btn.clicked.connect(self.open_selected)
        close.clicked.connect(self.reject)
        self.models.currentItemChanged.connect(lambda *_: self.update_report())
        self.saes.currentItemChanged.connect(lambda *_: self.update_report())
        self.saes.currentItemChanged.connect(lambda *_: self.explanations.set_sae(self.current_sae()))
        self.report = None
        self.refresh()

    # --- lists ---------------------------------------------------------------------------------------------------
    def refresh(self, select_model: str | None = None, select_sae: str | None = None) -> None:
        """Re-read the registry; keep (or move to) a selection by path."""
        keep_m = select_model or self._path(self.current_model()) or self._loaded_model_path()
        keep_s = select_sae or self._path(self.current_sae()) or self._loaded_sae_path()
        for tree in (self.models, self.saes):
            tree.blockSignals(True)
            tree.clear()
        for a in list_models():
            m = a.model
            _row(self.models, a, [a.name, a.source, a.format, human_size(a.size), m.hidden_size if m else "?",
                                  m.n_layers if m else "?"])
        _row(self.saes, None, ["(no SAE)", "", "", "", "", "", "", ""])
        for a in list_saes():
            s = a.sae
            _row(self.saes, a, [a.name, a.source, a.format, human_size(a.size), s.d_in if s else "?",
                                s.d_sae if s else "?", s.hook if s else "?", (s.model_name or "?") if s else "?"])
        for tree, keep in ((self.models, keep_m), (self.saes, keep_s)):
            self._select(tree, keep)
            tree.blockSignals(False)
        self.update_report()
        self.explanations.set_sae(self.current_sae())

    @staticmethod
    def _path(asset) -> str | None:
        return asset.path if asset is not None else None

    def _loaded_model_path(self) -> str | None:
        info = self.model.info
        return info.model.location if info is not None else None

    def _loaded_sae_path(self) -> str | None:
        info = self.model.info
        return info.sae_path if info is not None else None

    def _select(self, tree: QTreeWidget, path: str | None) -> None:
        want = _same_path_key(path)
        for i in range(tree.topLevelItemCount()):
            item = tree.topLevelItem(i)
            if item is None:
                continue
            a = item.data(0, Qt.ItemDataRole.UserRole)
            if want is not None and a is not None and _same_path_key(a.path) == want:
                tree.setCurrentItem(item)
                return
        first = tree.topLevelItem(1 if tree is self.saes and tree.topLevelItemCount() > 1 else 0)
        if first is not None:  # None when the tree is empty
            tree.setCurrentItem(first)

    def current_model(self):
        it = self.models.currentItem()
        return it.data(0, Qt.ItemDataRole.UserRole) if it is not None else None

    def current_sae(self):
        it = self.saes.currentItem()
        return it.data(0, Qt.ItemDataRole.UserRole) if it is not None else None

    def select(self, model_path: str | None = None, sae_path: str | None = None) -> None:
        if model_path is not None:
            self._select(self.models, model_path)
        if sae_path is not None:
            self._select(self.saes, sae_path)

    # --- the report ----------------------------------------------------------------------------------------------
    def update_report(self):
        """The compatibility report of the selected pair (None when no model is selected)."""
        from ..core.assets.compatibility import CompatReport, check_pair, free_memory

        m, s = self.current_model(), self.current_sae()
        self.error.setText("")
        if m is None:
            self.report = None
            self.report_view.setHtml("<i>Choose a model.</i>")
            return None
        problems = tuple(f"{a.name}: {a.problem}" for a in (m, s) if a is not None and a.problem)
        if problems:
            self.report = CompatReport(errors=problems)
        else:
            info = self.model.info
            device = info.model.device if info is not None else None
            dtype = info.model.dtype if info is not None else None
            dev, free = free_memory(device)
            self.report = check_pair(m.model, s.sae if s else None, model_name=m.name, device=dev, dtype=dtype,
                                     free_bytes=free, disk_bytes=m.size)
        head = ("<b>This pair can be opened.</b>" if self.report.ok else
                f"<b style='color:{COLORS['error']}'>This pair cannot be opened:</b>")
        lines = [f"<span style='color:{COLORS[lv]}'>{MARKS[lv]} {escape(t)}</span>" for lv, t in self.report.lines()]
        self.report_view.setHtml("<br>".join([head, *lines]))
        return self.report

    # --- actions -------------------------------------------------------------------------------------------------
    def open_selected(self) -> bool:
        """Load the selected pair into the window; a refused pair shows its reasons."""
        report = self.update_report()
        m, s = self.current_model(), self.current_sae()
        if report is None or m is None:
            self.error.setText("Choose a model first.")
            return False
        if not report.ok:
            self.error.setText("Not opened: " + " · ".join(report.errors))
            return False
        info = self.model.info
        same_model = info is not None and (_same_path_key(info.model.location) == _same_path_key(m.path)
                                           and (info.model.source == "bundled") == (m.source == "bundled"))
        if same_model and s is not None:
            self.model.load_sae(s.path)
        else:
            self.model.load(LoadRequest(model=m.load_spec, sae=s.path if s is not None else "none"))
        self.accept()
        parent = self.parentWidget()
        if parent is not None:
            parent.activateWindow()  # back to the chat, where the new pair will answer
        return True

    def import_path(self, path: str, name: str | None = None) -> bool:
        """Import a local model or SAE (validated first); it is then listed and selected."""
        from ..core.assets.imports import import_asset

        try:
            a = import_asset(path, name)
        except DesktopSAEError as e:
            self.error.setText(f"Not imported: {e}")
            return False
        self.refresh(**({"select_model": a.path} if a.kind == "model" else {"select_sae": a.path}))
        self.error.setText("")
        return True

    def _import_folder(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Import a model or SAE folder")
        if path:
            self.import_path(path)

    def _import_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Import a model or SAE file", "",
                                              "Models and SAEs (*.gguf *.npz);;All files (*)")
        if path:
            self.import_path(path)

    def _downloaded(self, results) -> None:
        model = next((r.path for r in results if r.kind == "model"), None)
        sae = next((r.path for r in results if r.kind == "sae"), None)
        self.refresh(select_model=model, select_sae=sae)


def _read_directory(directory_file: str | None) -> tuple[SAEDirectory | None, str]:
    """The SAE directory, or None and why it could not be read."""
    try:
        return load_sae_directory(directory_file), ""
    except DesktopSAEError as e:
        return None, f"The SAE directory could not be read: {e}"


def _same_path_key(path: str | None) -> str | None:
    if not path:
        return None
    try:
        return str(Path(path).resolve())
    except OSError:
        return str(path)
