"""Preset dialogs: the manager (built-in and user presets: load, rename, delete) and the save-name prompt.
Validation and files live in ``core.presets``; the app applies a preset only after it fully validated."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from ..core.support.errors import PresetError


class PresetManager(QDialog):
    """Lists presets; emits ``loadRequested(path)``. Rename and delete work on user presets only."""

    loadRequested = Signal(str)

    def __init__(self, store, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("Presets")
        self.store = store
        self.list = QListWidget()
        self.list.itemDoubleClicked.connect(lambda _it: self._load())
        self.list.currentItemChanged.connect(self._current)
        self.info = QLabel("")
        self.info.setWordWrap(True)
        self.error = QLabel("")
        self.error.setStyleSheet("color: #d33")
        self.error.setWordWrap(True)
        self.load_btn = QPushButton("Load")
        self.load_btn.setToolTip("Apply this preset's steering and sampling (validated first)")
        self.rename_btn = QPushButton("Rename…")
        self.delete_btn = QPushButton("Delete")
        self.load_btn.clicked.connect(self._load)
        self.rename_btn.clicked.connect(self._rename)
        self.delete_btn.clicked.connect(self._delete)
        close = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        close.rejected.connect(self.reject)
        buttons = QHBoxLayout()
        for b in (self.load_btn, self.rename_btn, self.delete_btn):
            buttons.addWidget(b)
        buttons.addStretch(1)
        buttons.addWidget(close)
        lay = QVBoxLayout(self)
        lay.addWidget(self.list, 1)
        lay.addWidget(self.info)
        lay.addWidget(self.error)
        lay.addLayout(buttons)
        self.resize(460, 420)
        self.reload()

    def reload(self) -> None:
        self.list.clear()
        for e in self.store.entries():
            it = QListWidgetItem(e.name + ("  (built-in)" if e.builtin else ""))
            it.setData(Qt.ItemDataRole.UserRole, (str(e.path), e.builtin))
            it.setToolTip(("Built-in preset (read-only): " if e.builtin else "") + str(e.path))
            self.list.addItem(it)
        if self.list.count():
            self.list.setCurrentRow(0)

    def _sel(self):
        it = self.list.currentItem()
        return it.data(Qt.ItemDataRole.UserRole) if it else (None, True)

    def _current(self, *_):
        path, builtin = self._sel()
        self.rename_btn.setEnabled(bool(path) and not builtin)
        self.delete_btn.setEnabled(bool(path) and not builtin)
        self.error.setText("")
        if not path:
            self.info.setText("")
            return
        try:
            p = self.store.read(path)
            feats = (
                ", ".join(
                    f"{'vector' if s.is_vector else f'#{s.feature}'} {s.label} {s.strength:g}"
                    f"{'×' if s.unit == 'max' else ''} {s.method}{f' when #{s.when[0]}' if s.when else ''}"
                    for s in p.steering.features
                )
                or "no steering"
            )
            self.info.setText(f"{p.description}\n{feats}".strip())
        except PresetError as e:
            self.info.setText("")
            self.error.setText(str(e))

    def _load(self) -> None:
        path, _ = self._sel()
        if path:
            self.loadRequested.emit(path)

    def _rename(self) -> None:
        path, builtin = self._sel()
        if not path or builtin:
            return
        name, ok = QInputDialog.getText(self, "Rename preset", "New name:", text=self.list.currentItem().text().strip())
        if ok:
            try:
                self.store.rename(Path(path), name)
            except PresetError as e:
                self.error.setText(str(e))
                return
            self.reload()

    def _delete(self) -> None:
        path, builtin = self._sel()
        if not path or builtin:
            return
        try:
            self.store.delete(Path(path))
        except PresetError as e:
            self.error.setText(str(e))
            return
        self.reload()
