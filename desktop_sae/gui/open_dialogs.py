"""File dialogs of the main window: open another model or SAE, and the preset commands (open, save, manager,
recent). Each one ends in a controller action; the controller validates before anything changes."""

from __future__ import annotations

from PySide6.QtWidgets import QFileDialog, QInputDialog

from ..app.state import LoadRequest
from .presets_ui import PresetManager


class OpenActions:
    """Mixed into ``MainWindow`` (uses its ``controller`` and ``_boxes``)."""

    def open_model_dialog(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Open a model folder (Hugging Face format)")
        if not path:
            path, _ = QFileDialog.getOpenFileName(self, "Or open a GGUF model file", "", "GGUF models (*.gguf)")
        if path:
            self.controller.load(LoadRequest(model=path, sae="none"))

    def open_sae_dialog(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Open an SAE folder (SAELens, sparsify) for the loaded model")
        if path:
            self.controller.load_sae(path)

    def save_preset_dialog(self) -> None:
        name, ok = QInputDialog.getText(self, "Save preset", "Preset name:")
        if ok and name.strip():
            self.controller.save_preset(name)

    def open_preset_dialog(self) -> None:
        root = str(self.controller.store.root)
        path, _ = QFileDialog.getOpenFileName(self, "Open preset", root, "Presets (*.json);;All files (*)")
        if path:
            self.controller.load_preset(path)

    def show_presets(self) -> None:
        dlg = PresetManager(self.controller.store, self)
        dlg.loadRequested.connect(lambda p: self.controller.load_preset(p) and dlg.accept())
        dlg.open()
        self._boxes.append(dlg)

    def _fill_recent(self) -> None:
        self.recent_menu.clear()
        for p in self.controller.store.recent():
            self.recent_menu.addAction(p.stem, lambda pp=p: self.controller.load_preset(pp))
        if not self.recent_menu.actions():
            self.recent_menu.addAction("(none)").setEnabled(False)
