"""Tools → Evaluate steering…: the evaluation runs as a job from the window, shows its tables, saves its JSON;
Stop, and a concept whose features the loaded SAE lacks, end with a message."""

import json

from PySide6.QtCore import Qt

from desktop_sae.app.loading import LoadRequest
from desktop_sae.gui.menus import open_eval_dialog
from tiny import make_loader


def test_a_demo_concept_is_evaluated_from_the_window_and_saved(make_window, real_sae_dir, qtbot, tmp_path):
    win = make_window(load=LoadRequest(sae=str(real_sae_dir)))
    dlg = open_eval_dialog(win)
    assert open_eval_dialog(win) is dlg and dlg.concept.count() >= 8
    dlg.concept.setCurrentIndex(dlg.concept.findText("music"))
    assert dlg.strengths.text() == "0.46, 0.92, 1.8"  # half, once and twice the measured strength
    dlg.strengths.setText("0.92")
    dlg.n_prompts.setValue(2)
    dlg.tokens.setValue(8)
    dlg.baselines.setChecked(False)
    qtbot.mouseClick(dlg.run_btn, Qt.LeftButton)  # Stop at once: the job ends cancelled, nothing is shown
    qtbot.mouseClick(dlg.stop_btn, Qt.LeftButton)
    qtbot.waitUntil(lambda: not dlg.run.running, timeout=120_000)
    assert dlg.status.text() == "Stopped." and dlg.evaluation is None and dlg.report.rowCount() == 0
    qtbot.mouseClick(dlg.run_btn, Qt.LeftButton)
    assert dlg.stop_btn.isEnabled() and not dlg.run_btn.isEnabled()
    qtbot.waitUntil(lambda: not dlg.run.running, timeout=300_000)
    assert dlg.evaluation is not None and "Chosen strength 0.92×" in dlg.status.text()
    assert [dlg.report.item(i, 0).text() for i in range(dlg.report.rowCount())] == ["feature 0.92×", "default"]
    assert dlg.selection.rowCount() == 2 and dlg.progress.value() == 100
    shown = float(dlg.report.item(0, 7).text())
    assert abs(shown - dlg.evaluation["report"]["feature"]["combined"]) < 0.006
    saved = json.loads(dlg.save_to(tmp_path / "music.json").read_text())
    assert saved["concept"]["name"] == "music" and saved["settings"]["batch"] == 16
    dlg.strengths.setText("0.5, x")
    assert dlg.start() is None and "comma-separated numbers" in dlg.status.text()
    dlg.close()


def test_an_sae_without_the_concepts_features_gets_a_message(make_window, tiny_sae_dir, qtbot):
    win = make_window(make_loader(tiny_sae_dir))
    dlg = open_eval_dialog(win)
    qtbot.mouseClick(dlg.run_btn, Qt.LeftButton)
    qtbot.waitUntil(lambda: not dlg.run.running, timeout=60_000)
    assert "not in this SAE" in dlg.status.text() and dlg.evaluation is None and not dlg.save_btn.isEnabled()
    dlg.close()
