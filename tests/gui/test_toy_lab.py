"""The toy lab (pytest-qt, offscreen): live arrows while the toy model trains, the geometry summaries, cancelling,
the rainbow plots, the SAE recovering the features, and "Copy as image"."""

import numpy as np
import pytest
import torch
from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication

from conftest import make_tiny_loader
from desktop_sae.app.job_handles import JobStatus
from desktop_sae.app.messages import JobKind
from desktop_sae.gui.plot_export import widget_png_bytes
from desktop_sae.gui.toy_lab import ToyLab

pytestmark = pytest.mark.gui
torch.set_num_threads(1)
TIMEOUT = 60_000


@pytest.fixture
def lab(make_window, tiny_sae_dir, qtbot):
    win = make_window(make_tiny_loader(tiny_sae_dir))
    lab = ToyLab(win.controller.jobs)
    qtbot.addWidget(lab)
    lab.slow_motion.setChecked(False)  # tests run at full speed unless they need a slow run
    lab.resize(1200, 760)
    lab.show()
    yield lab
    lab.cancel()
    qtbot.waitUntil(lambda: not lab.busy, timeout=TIMEOUT)


def finish(qtbot, lab, tab, start):
    """Start a run with ``start()`` and wait for the lab's ``finished(tab, outcome)``; returns the outcome."""
    with qtbot.waitSignal(lab.finished, timeout=TIMEOUT, check_params_cb=lambda t, _o: t == tab) as sig:
        start()
    return sig.args[1]


def test_superposition_arrows_move_while_training_and_end_in_a_pentagon(lab, qtbot):
    sp = lab.superposition
    tips = []  # feature 1's drawn tip, each time it changed while the job was running

    def watch():
        if lab.busy and sp.features_layer.items:
            t = sp.features_layer.tips[0]
            if not tips or tips[-1] != t:
                tips.append(t)
        return not lab.busy

    lab.train_superposition(n=5, sparsity=0.95, decay=0.9, seed=0)
    assert lab.busy and sp.run_button.text() == "Cancel" and lab.current_tab() == "superposition"
    qtbot.waitUntil(watch, timeout=TIMEOUT)
    assert sp.outcome == "done"
    assert len(tips) >= 3, tips  # the arrows were redrawn from live snapshots, not only at the end
    assert lab.live_arrow_updates >= 3 and lab.arrow_updates > lab.live_arrow_updates
    assert lab.summary == "5 of 5 features represented, ≈ 72° apart: a pentagon — superposition"
    assert "pentagon" in sp.summary.text()
    g = lab.toy_geometry
    assert g.represented == (0, 1, 2, 3, 4) and g.is_polygon
    assert sp.features_layer.visible_count == 5
    assert np.allclose(sp.features_layer.tips, sp.result.W.T)  # the final arrows are the trained columns of W
    assert [it[2].toPlainText() for it in sp.features_layer.items] == ["f1", "f2", "f3", "f4", "f5"]
    assert sp.run_button.text() == "Train" and "step 1500 / 1500" in sp.loss_label.text()
    assert len(sp.loss_plot.steps) == 60 and sp.progress.value() == sp.progress.maximum()


def test_dense_preset_keeps_only_two_orthogonal_features(lab, qtbot):
    sp = lab.superposition
    lab.superposition.set_values(n=5, decay=0.9, seed=0)
    outcome = finish(qtbot, lab, "superposition", lambda: qtbot.mouseClick(sp.dense_button, Qt.LeftButton))
    assert outcome == "done" and sp.sparsity.value() == 0.0
    assert lab.summary == "only the 2 most important features represented, at 90°: no superposition (dense data)"
    assert lab.toy_geometry.represented == (0, 1)
    norms = np.hypot(*np.array(sp.features_layer.tips).T)
    assert (norms[:2] > 0.9).all() and (norms[2:] < 0.2).all()
    assert [it[2].isVisible() for it in sp.features_layer.items] == [True, True, False, False, False]


def test_cancel_stops_training_mid_way(lab, qtbot):
    sp = lab.superposition
    lab.slow_motion.setChecked(True)  # a few seconds long: time to press Cancel
    lab.train_superposition(n=6, sparsity=0.9, seed=1)
    qtbot.waitUntil(lambda: lab.live_arrow_updates >= 2, timeout=TIMEOUT)
    with qtbot.waitSignal(lab.finished, timeout=TIMEOUT) as sig:
        qtbot.mouseClick(sp.run_button, Qt.LeftButton)  # the Train button reads "Cancel" while training
    assert sig.args == ["superposition", "cancelled"]
    assert sp.outcome == "cancelled" and not lab.busy and sp.run_button.text() == "Train"
    assert 0 < sp.last_step < 1500 and lab.toy_geometry is None
    assert f"stopped at step {sp.last_step}" in sp.summary.text()
    assert lab.jobs.runner.live(JobKind.TOY_SUPERPOSITION) == []
    drawn = lab.arrow_updates
    qtbot.wait(300)
    assert lab.arrow_updates == drawn  # nothing arrives after the stop


def test_closing_the_lab_mid_run_cancels_its_job(lab, qtbot):
    jobs = lab.jobs
    other = ToyLab(jobs)  # a second lab on the same job queue, closed while it trains
    other.slow_motion.setChecked(True)
    ended = []
    jobs.finished.connect(ended.append)
    job = other.train_toy_sae()
    qtbot.waitUntil(lambda: other.sae.arrow_updates >= 1, timeout=TIMEOUT)
    other.deleteLater()
    qtbot.waitUntil(lambda: not jobs.outstanding, timeout=TIMEOUT)  # its late messages reach no deleted widget
    jobs.finished.disconnect(ended.append)
    assert [(h.status, h.id) for h in ended] == [(JobStatus.CANCELLED, job)] and jobs.runner.live() == []


def test_rainbow_fills_its_plots(lab, qtbot):
    rb = lab.rainbow
    assert finish(qtbot, lab, "rainbow", lab.run_rainbow) == "done"
    r = lab.rainbow_result
    assert lab.current_tab() == "rainbow" and len(rb.swatches.colors) == 16
    for i, curve in enumerate(rb.code_curves):  # one curve per bottleneck unit, one point per colour
        x, y = curve.getData()
        assert np.allclose(x, r.centres) and np.allclose(y, r.codes[:, i])
    x, y = rb.units_scatter.getData()
    assert len(x) == 16 and len(set(y.astype(int))) >= 15  # (almost) every colour has a unit of its own
    assert np.allclose(rb.dense_bars.opts["height"], 100 * r.dense_error)
    assert np.allclose(rb.sparse_bars.opts["height"], 100 * r.sparse_error)
    assert r.sparse_error.mean() < 0.1 * r.dense_error.mean()
    assert "16 colours →" in rb.summary.text() and rb.progress.value() == rb.progress.maximum()


def test_sae_tab_recovers_the_features(lab, qtbot):
    sae = lab.sae
    assert finish(qtbot, lab, "sae", lab.train_toy_sae) == "done"
    rec = lab.recovery
    assert rec.fraction >= 0.9 and min(rec.best_cosine) >= 0.9, rec
    out = sae.outcome_data
    assert sae.true_layer.visible_count == 5 and sae.sae_layer.visible_count == len(out.sae.alive)
    assert np.allclose(sae.true_layer.tips, out.toy.W.T)
    assert "recovered 5 of 5" in sae.summary.text() and sae.table.text().count("✓") == 5
    assert sae.arrow_updates >= 3  # true directions, then decoder directions, drawn while training


def test_copy_as_image_and_tabs(lab, qtbot):
    sp = lab.superposition
    assert finish(qtbot, lab, "superposition", lambda: lab.train_superposition(steps=200)) == "done"
    QGuiApplication.clipboard().clear()
    qtbot.mouseClick(sp.plot_card.copy, Qt.LeftButton)
    img = QGuiApplication.clipboard().image()
    assert not img.isNull() and img.width() >= sp.arrows.width() and img.height() >= sp.arrows.height()
    red = sp.features_layer.colors[0]  # feature 1's arrow is in the picture
    pixels = {img.pixelColor(x, y).rgb() for x in range(0, img.width(), 2) for y in range(0, img.height(), 2)}
    assert red.rgb() in pixels
    png = widget_png_bytes(sp.loss_plot)
    assert png.startswith(b"\x89PNG") and len(png) > 1000
    for name in ("rainbow", "sae", "superposition"):
        lab.show_tab(name)
        assert lab.current_tab() == name
    with pytest.raises(ValueError, match="unknown toy lab tab"):
        lab.show_tab("nope")
    assert lab.widget_for("toy_train_button") is sp.run_button and lab.widget_for("chat_input") is None
