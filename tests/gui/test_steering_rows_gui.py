"""Vector rows, projection caps, conditions and token tooltips in the running window (pytest-qt, offscreen)."""

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFileDialog, QMessageBox

from conftest import ask, make_tiny_loader
from conftest import set_sampling as _sampling
from desktop_sae.core.steering.specs import VECTOR_METHODS
from desktop_sae.core.steering.vectors import SteeringVector, load_vector, save_vector
from steer_direction import answer_events, assert_steered_towards

pytestmark = pytest.mark.gui


def _vector_file(tmp_path, name, d, norm=60.0, seed=0):
    v = SteeringVector.from_array(name, np.random.default_rng(seed).normal(size=d)).scaled_to(norm)
    return save_vector(v, tmp_path / f"{name}.safetensors"), v


def _open(monkeypatch, path):
    monkeypatch.setattr(QFileDialog, "getOpenFileName", staticmethod(lambda *a, **k: (str(path), "")))


def test_a_vector_file_loads_into_the_window_steers_and_saves(make_window, tiny_sae_dir, qtbot, tmp_path,
                                                              monkeypatch):
    win = make_window(make_tiny_loader(tiny_sae_dir))
    ctl = win.controller
    _sampling(win, max_new_tokens=12, temperature=0.0)
    ask(qtbot, win, "the bridge")
    plain, plain_events = ctl.conversation.last_answer(), answer_events(ctl)
    path, v = _vector_file(tmp_path, "bridge-ish", 64)
    _open(monkeypatch, path)
    win.menu_actions.load_vector.trigger()
    (spec,) = ctl.steering.config.features
    assert spec.is_vector and spec.feature < 0 and spec.label == "bridge-ish"
    row = win.steering.row(spec.feature)
    assert row.is_vector and not row.badge.isHidden() and "bridge-ish" in row.name.text()
    assert [row.method.itemData(i) for i in range(row.method.count())] == list(VECTOR_METHODS)
    assert ctl.steering.strength_units(spec).x_max is None  # never read feature statistics at the negative key
    assert "raw 1" in row.units.text()
    ctl.conversation.regenerate()
    qtbot.waitUntil(lambda: not ctl.conversation.busy, timeout=20_000)
    assert ctl.conversation.last_answer() != plain
    assert_steered_towards(ctl, answer_events(ctl), plain_events)  # along the loaded vector
    # save the (selected) vector row and read it back
    out = tmp_path / "saved.safetensors"
    monkeypatch.setattr(QFileDialog, "getSaveFileName", staticmethod(lambda *a, **k: (str(out), "")))
    qtbot.mouseClick(row, Qt.LeftButton)
    assert win.steering.selected == spec.feature
    win.menu_actions.save_vector.trigger()
    back = load_vector(out)
    assert back.name == "bridge-ish" and np.allclose(back.values, v.values, atol=1e-5)
    assert back.hook == "blocks.1.hook_resid_post"


def test_a_vector_of_the_wrong_width_is_refused_and_nothing_changes(make_window, tiny_sae_dir, qtbot, tmp_path,
                                                                    monkeypatch):
    win = make_window(make_tiny_loader(tiny_sae_dir))
    ctl = win.controller
    ctl.steering.steer(9, 2.0)
    before = ctl.steering.config
    path, _ = _vector_file(tmp_path, "narrow", 32)
    _open(monkeypatch, path)
    win.menu_actions.load_vector.trigger()
    assert ctl.steering.config == before and [r.feature for r in win.steering.rows] == [9]
    assert "32 dimensions" in ctl.notices.last_error and "64" in ctl.notices.last_error
    boxes = [b for b in win.findChildren(QMessageBox) if b.isVisible()]
    assert boxes and "32 dimensions" in boxes[-1].text()


def test_cap_and_condition_controls_edit_the_steering(make_window, tiny_sae_dir, qtbot):
    win = make_window(make_tiny_loader(tiny_sae_dir))
    ctl = win.controller
    ctl.steering.steer(5, 0.5, method="cap")
    row = win.steering.row(5)
    assert row.method.currentData() == "cap" and "x·u ≤" in row.units.text()
    assert "Cap on the projection" in row.slider.toolTip()
    ctl.steering.steer(9, 3.0)
    row9 = win.steering.row(9)
    assert not row9.when_feature.isEnabled()
    row9.when_on.setChecked(True)
    row9.when_feature.setValue(7)
    row9.when_above.setValue(0.25)
    spec = ctl.steering.config.features[1]
    assert spec.when == (7, 0.25) and spec.when_unit == "max"  # the tiny SAE has statistics
    assert win.steering.row(9) is row9 and row9.when_feature.isEnabled()
    _sampling(win, max_new_tokens=6, temperature=0.0)
    ask(qtbot, win, "hello")  # the conditional plan runs in the real token loop
    assert ctl.conversation.turns[-1].role == "assistant"
    row9.when_on.setChecked(False)
    assert ctl.steering.config.features[1].when is None


def test_hovering_a_token_shows_its_alternatives_and_the_defaults(make_window, tiny_sae_dir, qtbot):
    win = make_window(make_tiny_loader(tiny_sae_dir))
    ctl = win.controller
    _sampling(win, max_new_tokens=8, temperature=0.0)
    ctl.conversation.set_compare(True)
    ctl.steering.steer(9, 40.0)
    ask(qtbot, win, "hello")
    first = len(ctl.conversation.turns[-1].events["steered"]) - 8
    ev = ctl.conversation.turns[-1].events["steered"][first]
    text = win.chat.tooltip_for(ev)
    default = ctl.conversation.events[("default", ev.index)]
    assert "Next-token alternatives (steered):" in text and "Default at this position" in text
    for tok, p in (*ev.alternatives, *default.alternatives):
        assert f"{tok!r}" in text and f"{100 * p:5.1f}%" in text
    assert len([line for line in text.splitlines() if line.startswith("  ") and "%" in line]) == 10
    assert "◀" in text and f"p = {100 * ev.prob:.1f}%" in text
