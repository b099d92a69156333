"""File dialogs of the main window: open another model or SAE, the preset commands (open, save, manager, recent),
steering vectors and the session report. Each one ends in a sub-model action, which validates before anything
changes."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtWidgets import QFileDialog, QInputDialog, QWidget

from ..app.loading import LoadRequest
from .presets_ui import PresetManager

if TYPE_CHECKING:
    from .asset_manager import AssetManager
    from .main_window import MainWindow
    from .remote_dialog import RemoteModelDialog


class FileDialogs:
    """The main window's File menu: each command asks for a file or a name, then calls a sub-model."""

    def __init__(self, win: MainWindow):
        self.win = win
        self.ctl = win.controller
        self.asset_manager: AssetManager | None = None
        self.remote_dialog: RemoteModelDialog | None = None

    def open_model_dialog(self) -> None:
        path = QFileDialog.getExistingDirectory(self.win, "Open a model folder (Hugging Face format)")
        if not path:
            path, _ = QFileDialog.getOpenFileName(self.win, "Or open a GGUF model file", "", "GGUF models (*.gguf)")
        if path:
            self.ctl.model.load(LoadRequest(model=path, sae="none"))

    def open_remote_dialog(self) -> RemoteModelDialog:
        """File > Open remote model (nnsight / NDIF)…: one dialog per window, its form kept between openings."""
        from .remote_dialog import RemoteModelDialog

        if self.remote_dialog is None:
            self.remote_dialog = RemoteModelDialog(self.ctl.model, self.win.settings, self.win)
        self.remote_dialog.open()
        return self.remote_dialog

    def open_sae_dialog(self) -> None:
        path = QFileDialog.getExistingDirectory(self.win, "Open an SAE folder (SAELens, sparsify) for the loaded "
                                                "model")
        if path:
            self.ctl.model.load_sae(path)

    def show_asset_manager(self) -> AssetManager:
        """File > Models and SAEs…: one manager per window, kept (with a download in flight) when closed."""
        from .asset_manager import AssetManager

        if self.asset_manager is None:
            self.asset_manager = AssetManager(self.ctl.model, self.ctl.jobs, self.win)  # reads the lists
        else:
            self.asset_manager.refresh()
        self.asset_manager.show()
        self.asset_manager.raise_()
        return self.asset_manager

    def save_preset_dialog(self) -> None:
        name, ok = QInputDialog.getText(self.win, "Save preset", "Preset name:")
        if ok and name.strip():
            self.ctl.presets.save(name)

    def open_preset_dialog(self) -> None:
        root = str(self.ctl.presets.store.root)
        path, _ = QFileDialog.getOpenFileName(self.win, "Open preset", root, "Presets (*.json);;All files (*)")
        if path:
            self.ctl.presets.load(path)

    def load_vector_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self.win, "Load a steering vector", "",
                                              "Steering vectors (*.safetensors *.npy);;All files (*)")
        if path and self.ctl.steering.load_vector(path) is not None:
            self.win.show_panel("steering")

    def save_vector_dialog(self) -> None:
        key = self.win.steering.selected_vector()
        spec = self.ctl.steering.spec(key) if key is not None else None
        if key is None or spec is None:
            self.ctl.notices.report_error("Save steering vector", "Select a vector row in the steering panel first "
                                          "(click it); feature rows are decoder rows of the SAE.")
            return
        name = "".join(c if c.isalnum() or c in "-_" else "_" for c in (spec.label or "vector"))[:60]
        path, _ = QFileDialog.getSaveFileName(self.win, "Save the steering vector", f"{name}.safetensors",
                                              "Steering vectors (*.safetensors)")
        if path:
            self.ctl.steering.save_vector(key, path if path.endswith(".safetensors") else path + ".safetensors")

    def export_steering_dialog(self) -> None:
        """Ask where to write the current steering as one vector; the format follows the filter (or the suffix)."""
        gguf, st = "llama.cpp control vector (*.gguf)", "Desktop SAE steering vector (*.safetensors)"
        path, chosen = QFileDialog.getSaveFileName(self.win, "Export the steering for llama.cpp",
                                                   "steering.gguf", f"{gguf};;{st}")
        if not path:
            return
        suffix = ".safetensors" if chosen == st else ".gguf"
        if Path(path).suffix.lower() not in (".gguf", ".safetensors"):
            path += suffix
        self.ctl.presets.export_steering(path)

    def show_presets(self) -> None:
        dlg = PresetManager(self.ctl.presets.store, self.win)

        def load(p: str) -> None:
            if self.ctl.presets.load(p):
                dlg.accept()

        dlg.loadRequested.connect(load)
        dlg.open()
        self.win.keep_box(dlg)

    def export_report_dialog(self) -> None:
        default = str(Path.home() / "desktop-sae-session.html")
        path, _ = QFileDialog.getSaveFileName(self.win, "Export the session as a report", default, "HTML (*.html)")
        if path:
            self.export_report(path)

    def report_images(self) -> dict[str, bytes]:
        """The plots on screen now, as PNGs (caption -> bytes)."""
        from .plot_export import widget_png_bytes

        w = self.win
        shown: list[tuple[str, QWidget | None]] = [("Live activations", w.strip), ("Token features", w.token_view),
                                                   ("Feature dashboard", w.detail), ("Toy model lab", w.toy_lab),
                                                   ("Neuron view", w.neuron_view)]
        return {c: widget_png_bytes(x) for c, x in shown if x is not None and x.isVisible()}

    def export_report(self, path: str | Path) -> tuple[Path, Path] | None:
        """Write the HTML report and the per-token CSV beside it; returns their paths (None on error)."""
        from ..app.report import SessionRecord, write_report

        try:
            paths = write_report(SessionRecord.of(self.ctl), self.report_images(), path)
        except OSError as e:
            self.ctl.notices.report_error("Could not write the report", str(e))
            return None
        self.ctl.notices.set_status(f"Report saved: {paths[0]} (tokens: {paths[1].name})")
        return paths

    def fill_recent(self) -> None:
        menu = self.win.menu_actions.recent_menu
        if menu is None:
            return
        menu.clear()
        for p in self.ctl.presets.store.recent():

            def load_recent(pp: Path = p) -> None:
                self.ctl.presets.load(pp)

            menu.addAction(p.stem, load_recent)
        if not menu.actions():
            menu.addAction("(none)").setEnabled(False)
