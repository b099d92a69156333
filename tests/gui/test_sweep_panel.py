"""The strength-sweep dialog in the running window: opened from a steering row, points appear on the plot as the
sweep runs, hovering shows an answer, and "Apply sweet spot" moves the steering row's strength."""

import math
from pathlib import Path

import pytest

import tiny
from conftest import make_tiny_loader
from desktop_sae.core.sae.formats import save_sae
from desktop_sae.core.steer_eval import data

pytestmark = pytest.mark.gui
RES = Path(__file__).resolve().parents[2] / "resources"
SHOTS = Path(__file__).resolve().parents[2] / "shots"


@pytest.fixture(scope="module")
def low_max_sae(tmp_path_factory):
    """The tiny SAE with a small recorded max activation, so the feature's re-read counts as firing."""
    folder = tmp_path_factory.mktemp("sweep_sae") / "sae"
    save_sae(tiny.with_stats(tiny.random_sae(), max_act=0.05), folder)
    return folder


def test_sweep_from_a_steering_row_plots_hovers_and_applies(make_window, low_max_sae, qtbot, monkeypatch):
    monkeypatch.setattr(data, "resources_dir", lambda: RES)
    win = make_window(loader=make_tiny_loader(low_max_sae))
    ctl = win.controller
    ctl.steering.steer(204, 1.0)
    row = win.steering.rows[0]
    row.sweep_btn.click()
    dlg = win._boxes[-1]
    panel = dlg.panel
    assert dlg.isVisible() and panel.target.currentData().feature == 204
    panel.prompt.setText("the quick brown fox")
    panel.seed.setValue(7)
    panel.tokens.setValue(6)
    panel.lo.setValue(1.0)
    panel.hi.setValue(256.0)
    panel.n.setValue(4)
    panel.keywords.setText("bridge")
    panel.run_btn.click()
    assert not panel.run_btn.isEnabled()
    qtbot.waitUntil(lambda: len(panel.points) >= 2, timeout=120_000)
    x, _ = panel.plot.curves["concept"].getData()
    assert 2 <= len(x) <= 4  # points are drawn as they arrive
    qtbot.waitUntil(lambda: not panel.run.running, timeout=120_000)
    assert sorted(panel.points) == [0, 1, 2, 3]
    x, y = panel.plot.curves["combined"].getData()
    assert list(10 ** x) == pytest.approx(list(panel.strengths)) and len(y) == 4  # log x axis
    _, nll = panel.plot.curves["nll"].getData()
    assert list(nll) == pytest.approx([panel.points[i].measured.nll for i in range(4)])
    # hover the third strength: its answer is shown
    plot = panel.plot
    plot.top.scene().sigMouseMoved.emit(plot.scene_pos_of(panel.strengths[2]))
    assert f"strength {panel.strengths[2]:g}" in panel.text.toPlainText()
    assert panel.points[2].text in panel.text.toPlainText()
    # the sweet spot: the best combined score, applied to the row
    best = max(panel.points.values(), key=lambda p: (p.combined, -p.strength))
    assert best.combined > 0 and panel.apply_btn.isEnabled() and plot.sweet[0].isVisible()
    assert plot.sweet[0].value() == pytest.approx(math.log10(best.strength))
    panel.apply_btn.click()
    assert ctl.steering.config.features[0].strength == pytest.approx(best.strength)
    assert row.value.value() == pytest.approx(best.strength, abs=0.01)
    SHOTS.mkdir(exist_ok=True)
    dlg.grab().save(str(SHOTS / "sweep_dialog.png"))
    dlg.close()


def test_sweep_menu_opens_for_the_steering_set(make_window, tiny_sae_dir, qtbot):
    win = make_window(loader=make_tiny_loader(tiny_sae_dir))
    win.menu_actions.sweep.trigger()  # nothing steered or selected: a message, no job
    empty = win._boxes[-1].panel
    assert empty.start() is None and "first" in empty.status.text()
    win._boxes[-1].close()
    win.controller.steering.steer(3, 2.0)
    win.menu_actions.sweep.trigger()
    panel = win._boxes[-1].panel
    items = [panel.target.itemData(i) for i in range(panel.target.count())]
    assert items[-1] == "set" and items[0].feature == 3
    panel.target.setCurrentIndex(panel.target.count() - 1)
    assert panel.request().steering_at(4.0).multiplier == 4.0
    win._boxes[-1].close()
