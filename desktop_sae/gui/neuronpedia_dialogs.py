"""File dialogs for Neuronpedia steering files: import one (its steering and sampling become the current ones, its
prompt goes into the input box) and export the current steering with the last answer. The work is in
``app.neuronpedia``; a refused file changes nothing and its message is shown like any controller error."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import QFileDialog

from ..app.neuronpedia_transfer import export_neuronpedia, import_neuronpedia

FILTER = "Neuronpedia JSON (*.json);;All files (*)"


def import_neuronpedia_dialog(win) -> None:
    path, _ = QFileDialog.getOpenFileName(win, "Import a Neuronpedia steering file", "", FILTER)
    if path:
        apply_neuronpedia_file(win, path)


def apply_neuronpedia_file(win, path) -> bool:
    imp = import_neuronpedia(win.controller, path)
    if imp is None:
        return False
    if imp.prompt:
        win.chat.input.setPlainText(imp.prompt)
    return True


def export_neuronpedia_dialog(win) -> None:
    default = str(Path.home() / "neuronpedia-steer.json")
    path, _ = QFileDialog.getSaveFileName(win, "Export steering and the last answer for Neuronpedia", default, FILTER)
    if path:
        export_neuronpedia(win.controller, path)
