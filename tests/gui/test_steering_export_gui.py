"""File → Export steering for llama.cpp in the running app (pytest-qt, offscreen, tiny model)."""

import numpy as np
import pytest
from PySide6.QtWidgets import QFileDialog, QMessageBox

from conftest import make_tiny_loader
from desktop_sae.core.interop.llamacpp_control_vector import read_control_vector
from desktop_sae.core.sae.formats import load_sae
from desktop_sae.core.steering.vectors import load_vector

pytestmark = pytest.mark.gui
GGUF = "llama.cpp control vector (*.gguf)"
SAFETENSORS = "Desktop SAE steering vector (*.safetensors)"


def test_the_action_writes_the_current_steering_in_the_chosen_format(make_window, tiny_sae_dir, tmp_path,
                                                                    monkeypatch, qtbot):
    win = make_window(make_tiny_loader(tiny_sae_dir))
    action = win.menu_actions.export_steering
    assert action in win.menuBar().actions()[0].menu().actions() and action.isEnabled()
    win.controller.steering.steer(9, 2.0, unit="raw")
    W = load_sae(tiny_sae_dir).W_dec.detach().numpy()

    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(tmp_path / "cv"), GGUF))
    action.trigger()
    qtbot.waitUntil(lambda: (tmp_path / "cv.gguf").exists(), timeout=10_000)
    np.testing.assert_allclose(read_control_vector(tmp_path / "cv.gguf").directions[1], 2.0 * W[9], rtol=1e-6)
    qtbot.waitUntil(lambda: "llama.cpp layer 1" in win.controller.notices.status, timeout=5_000)

    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(tmp_path / "v"), SAFETENSORS))
    action.trigger()
    qtbot.waitUntil(lambda: (tmp_path / "v.safetensors").exists(), timeout=10_000)
    np.testing.assert_allclose(load_vector(tmp_path / "v.safetensors").values, 2.0 * W[9], rtol=1e-6)


def test_a_clamp_row_shows_the_refusal_and_writes_nothing(make_window, tiny_sae_dir, tmp_path, monkeypatch):
    win = make_window(make_tiny_loader(tiny_sae_dir))
    win.controller.steering.steer(4, 1.0, method="clamp")
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(tmp_path / "cv.gguf"), GGUF))
    win.menu_actions.export_steering.trigger()
    boxes = [b for b in win.findChildren(QMessageBox) if b.isVisible()]
    assert boxes and "only additive steering can be exported" in boxes[-1].text()
    assert not (tmp_path / "cv.gguf").exists()
