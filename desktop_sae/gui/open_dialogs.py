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

    def load_vector_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Load a steering vector", "",
                                              "Steering vectors (*.safetensors *.npy);;All files (*)")
        if path and self.controller.load_vector(path) is not None:
            self.docks["steering"].show()
            self.docks["steering"].raise_()

    def save_vector_dialog(self) -> None:
        key = self.steering.selected_vector()
        if key is None:
            self.controller.report_error("Save steering vector", "Select a vector row in the steering panel first "
                                         "(click it); feature rows are decoder rows of the SAE.")
            return
        spec = next(s for s in self.controller.state.steering.features if s.feature == key)
        name = "".join(c if c.isalnum() or c in "-_" else "_" for c in (spec.label or "vector"))[:60]
        path, _ = QFileDialog.getSaveFileName(self, "Save the steering vector", f"{name}.safetensors",
                                              "Steering vectors (*.safetensors)")
        if path:
            self.controller.save_vector(key, path if path.endswith(".safetensors") else path + ".safetensors")

    def show_presets(self) -> None:
        dlg = PresetManager(self.controller.store, self)
        dlg.loadRequested.connect(lambda p: self.controller.load_preset(p) and dlg.accept())
        dlg.open()
        self._boxes.append(dlg)

    def export_report_dialog(self) -> None:
        from pathlib import Path

        default = str(Path.home() / "desktop-sae-session.html")
        path, _ = QFileDialog.getSaveFileName(self, "Export the session as a report", default, "HTML (*.html)")
        if path:
            self.export_report(path)

    def report_images(self) -> dict[str, bytes]:
        """The plots on screen now, as PNGs (caption -> bytes)."""
        from .plot_export import widget_png_bytes

        shown = [
            ("Live activations", self.strip),
            ("Token features", self.token_view),
            ("Feature dashboard", self.detail),
        ]
        shown += [
            (caption, getattr(self, attr, None))
            for caption, attr in (("Toy model lab", "toy_lab"), ("Neuron view", "neuron_view"))
        ]
        return {c: widget_png_bytes(w) for c, w in shown if w is not None and w.isVisible()}

    def export_report(self, path):
        """Write the HTML report and the per-token CSV beside it; returns their paths (None on error)."""
        from ..app.report import write_report

        try:
            paths = write_report(self.controller.state, self.report_images(), path)
        except OSError as e:
            self.controller.report_error("Could not write the report", str(e))
            return None
        self.controller.set_status(f"Report saved: {paths[0]} (tokens: {paths[1].name})")
        return paths

    def _fill_recent(self) -> None:
        self.recent_menu.clear()
        for p in self.controller.store.recent():
            self.recent_menu.addAction(p.stem, lambda pp=p: self.controller.load_preset(pp))
        if not self.recent_menu.actions():
            self.recent_menu.addAction("(none)").setEnabled(False)
