"""File → Train an SAE… (pytest-qt, offscreen, tiny model): pick a corpus file, set a small budget, start, watch the
stages and the live curves, read the evaluation, use the new SAE and steer with one of its features; cancel and
resume from the dialog's buttons. The dialog is rendered mid-training and at the end (PNGs in $DESKTOP_SAE_SHOTS
when set)."""

import os
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFileDialog

from conftest import ask, make_tiny_loader, set_sampling
from desktop_sae.core.training.run_specs import saes_dir
from desktop_sae.core.training.trainer import TopKTrainer
from steer_direction import answer_events, assert_steered_towards
from tiny import TRAIN_TEXT

pytestmark = pytest.mark.gui
torch.set_num_threads(1)
TIMEOUT = 120_000


def corpus_file(folder: Path) -> Path:
    """A plain text file: the dialog cuts it into documents, some held out for the evaluation."""
    sents = [s.strip() for s in TRAIN_TEXT.split(".") if s.strip()]
    p = folder / "my corpus.txt"
    p.write_text("".join(f"{sents[i % len(sents)]} {i}.\n" + ("\n" if i % 7 == 6 else "") for i in range(3000)))
    return p


@pytest.fixture
def slow_steps(monkeypatch):
    """Training steps take 10 ms more, so the test sees (and draws) the run while it trains."""
    step = TopKTrainer.step
    monkeypatch.setattr(TopKTrainer, "step", lambda self, *a, **kw: (time.sleep(0.01), step(self, *a, **kw))[1])


def shot(dlg, tmp_path, name):
    from PySide6.QtWidgets import QApplication

    from desktop_sae.cli.screenshot import settle

    settle(QApplication.instance(), 0.4)  # the curves' timer draws the newest points
    for folder in (tmp_path, os.environ.get("DESKTOP_SAE_SHOTS")):
        if folder:
            Path(folder).mkdir(parents=True, exist_ok=True)
            assert dlg.grab().save(str(Path(folder) / name))


def open_and_fill(win, qtbot, monkeypatch, tmp_path, **values):
    win.menu_actions.train.trigger()
    dlg = win.train_dialog
    assert dlg.isVisible() and dlg.form.builtin.isChecked()  # the built-in recipe is the default corpus
    corpus = corpus_file(tmp_path)
    monkeypatch.setattr(QFileDialog, "getOpenFileNames", staticmethod(lambda *a, **k: ([str(corpus)], "")))
    qtbot.mouseClick(dlg.form.add_files, Qt.LeftButton)
    assert dlg.form.files_choice.isChecked() and dlg.form.corpus() == (str(corpus),)
    dlg.form.set_values(**values)
    return dlg


def test_train_watch_use_and_steer_with_the_new_sae(make_window, tiny_sae_dir, qtbot, monkeypatch, tmp_path,
                                                    slow_steps):
    win = make_window(make_tiny_loader(tiny_sae_dir))
    dlg = open_and_fill(win, qtbot, monkeypatch, tmp_path, layer=1, width=96, k=4, tokens=6000, passes=8)
    name = dlg.form.name.text()
    assert name.startswith("tiny-llama-L1-w96-")  # derived from model, layer, width and date
    qtbot.mouseClick(dlg.start_btn, Qt.LeftButton)
    assert dlg.run.running and not dlg.start_btn.isEnabled() and dlg.cancel_btn.isEnabled()

    qtbot.waitUntil(lambda: len(dlg.run.points) >= 8 and dlg.plots.draws > 0 or not dlg.run.running, timeout=TIMEOUT)
    assert dlg.run.running and dlg.run.stage == "train"
    assert "✓ tokenise" in dlg.stages.text() and "▶ train" in dlg.stages.text() and "corpus" not in dlg.stages.text()
    assert 0 < dlg.bar.value() < 1000 and dlg.message.text().startswith("train: step")
    shot(dlg, tmp_path, "train-dialog-training.png")
    x, ev = dlg.plots.curve_data(2)
    assert len(x) >= 8 and np.all(np.diff(x) > 0) and np.all((ev > -1) & (ev <= 1))
    assert len(dlg.plots.curve_data(1)[1]) == len(x) and np.all(dlg.plots.curve_data(1)[1] <= 4)  # L0 <= k

    qtbot.waitUntil(lambda: not dlg.run.running, timeout=TIMEOUT)
    assert dlg.run.status == "done", dlg.run.error
    shot(dlg, tmp_path, "train-dialog-done.png")
    assert dlg.result_box.isVisible() and "Explained variance" in dlg.result_label.text()
    assert "Δ loss" in dlg.result_label.text()
    assert len(dlg.plots.curve_data(0)[0]) == len(dlg.run.points) and (saes_dir() / name / "cfg.json").exists()

    qtbot.mouseClick(dlg.use_btn, Qt.LeftButton)
    ctl = win.controller
    qtbot.waitUntil(lambda: ctl.model.info.sae_path == str(saes_dir() / name) and ctl.model.ready, timeout=TIMEOUT)
    assert ctl.model.info.d_sae == 96 and win.features.model.rowCount() == 96
    assert dlg.message.text().startswith("In use")
    dlg.close()
    win.activateWindow()  # back to the chat, as the user is once the dialog is closed
    qtbot.waitUntil(win.isActiveWindow, timeout=5000)

    set_sampling(win, temperature=0.0, max_new_tokens=12)
    ask(qtbot, win, "the bridge")
    default, default_events = ctl.conversation.last_answer(), answer_events(ctl)
    f = int(np.argmax(ctl.model.info.max_activation))  # the new SAE's strongest feature
    win.steer_feature(f)
    ctl.steering.set_strength(f, 8.0)  # 8 x its max activation
    assert [s.feature for s in ctl.steering.config.active] == [f]
    ctl.conversation.clear()
    ask(qtbot, win, "the bridge")
    assert ctl.conversation.last_answer() != default
    assert_steered_towards(ctl, answer_events(ctl), default_events)  # towards the trained SAE's feature


def test_cancel_then_resume_from_the_dialog(make_window, tiny_sae_dir, qtbot, monkeypatch, tmp_path, slow_steps):
    win = make_window(make_tiny_loader(tiny_sae_dir))
    dlg = open_and_fill(win, qtbot, monkeypatch, tmp_path, layer=2, width=64, k=4, tokens=4096, passes=10,
                        name="my-sae")
    qtbot.mouseClick(dlg.start_btn, Qt.LeftButton)
    qtbot.waitUntil(lambda: len(dlg.run.points) >= 5 or not dlg.run.running, timeout=TIMEOUT)
    qtbot.mouseClick(dlg.cancel_btn, Qt.LeftButton)
    qtbot.waitUntil(lambda: not dlg.run.running, timeout=5000)
    assert dlg.run.status == "cancelled" and dlg.resume_btn.isEnabled() and dlg.message.text().startswith("Cancelled")
    stopped_at = dlg.run.points[-1].step
    qtbot.mouseClick(dlg.resume_btn, Qt.LeftButton)
    qtbot.waitUntil(lambda: not dlg.run.running, timeout=TIMEOUT)
    assert dlg.run.status == "done" and dlg.run.outcome.name == "my-sae"
    assert [p.step for p in dlg.run.points] == sorted({p.step for p in dlg.run.points})
    assert dlg.run.points[-1].step > stopped_at and dlg.run.points[-1].tokens == dlg.run.points[-1].total_tokens
