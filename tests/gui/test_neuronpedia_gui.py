"""File → Import / Export Neuronpedia JSON in the running app (pytest-qt, offscreen, tiny model)."""

import json

import pytest
from PySide6.QtWidgets import QFileDialog, QMessageBox

from conftest import make_tiny_loader

pytestmark = pytest.mark.gui
SRC = "1-res-tiny-sae"


def steer_file(tmp_path, layer=SRC):
    d = {"modelId": "tiny-llama", "features": [{"modelId": "tiny-llama", "layer": layer, "index": 21, "strength": 4}],
         "steeredChatMessages": [{"role": "user", "content": "Tell me about bridges."}]}
    path = tmp_path / "steer.json"
    path.write_text(json.dumps(d))
    return path


def test_import_from_the_file_menu_fills_the_steering_and_the_input_box(make_window, tiny_sae_dir, tmp_path,
                                                                         monkeypatch, qtbot):
    win = make_window(make_tiny_loader(tiny_sae_dir))
    file_menu = win.menuBar().actions()[0].menu()
    assert win.menu_actions.np_import in file_menu.actions() and win.menu_actions.np_export in file_menu.actions()
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: (str(steer_file(tmp_path)), ""))
    win.menu_actions.np_import.trigger()
    assert win.chat.input.toPlainText() == "Tell me about bridges."
    assert [s.feature for s in win.controller.steering.config.features] == [21]
    qtbot.waitUntil(lambda: [r.feature for r in win.steering.rows] == [21], timeout=3000)

    out = tmp_path / "out.json"
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(out), ""))
    win.menu_actions.np_export.trigger()
    assert json.loads(out.read_text())["features"][0]["index"] == 21


def test_a_refused_import_shows_the_message_and_keeps_the_input(make_window, tiny_sae_dir, tmp_path, monkeypatch):
    win = make_window(make_tiny_loader(tiny_sae_dir))
    win.chat.input.setPlainText("my draft")
    monkeypatch.setattr(QFileDialog, "getOpenFileName",
                        lambda *a, **k: (str(steer_file(tmp_path, "1-res-jb")), ""))
    win.menu_actions.np_import.trigger()
    boxes = [b for b in win.findChildren(QMessageBox) if b.isVisible()]
    assert boxes and "'1-res-jb'" in boxes[-1].text()
    assert win.chat.input.toPlainText() == "my draft" and win.controller.steering.config.features == ()
