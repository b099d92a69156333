"""The Model & SAE manager in a running window (pytest-qt, offscreen), against the loopback fake hub: download a
model and an SAE, open the pair, chat with the new SAE's features and steer; a refused pair, a cancelled download
and imports."""

import os
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication

import hub_server
import tiny
from conftest import ask, make_tiny_loader, set_sampling
from hub_server import MODEL_REPO, SAE_PATH, SAE_REPO
from steer_direction import answer_events, assert_steered_towards

fake_hub, hub_env = hub_server.fake_hub, hub_server.hub_env  # the loopback hub's fixtures
pytestmark = pytest.mark.gui


def pair_loader(sae_dir):
    """The window starts on the tiny in-memory model; a pair opened from the manager loads the real way
    (``app.tasks.default_loader``: open_session on the downloaded folder and SAE)."""
    start = make_tiny_loader(sae_dir)

    def loader(req, progress, cancelled=None):
        if req.model is None:
            return start(req, progress, cancelled)
        from desktop_sae.app.loading import default_loader

        return default_loader(req, progress, cancelled)

    return loader


def download(qtbot, dlg, kind: int, what: str, path: str = ""):
    panel = dlg.download
    panel.kind.setCurrentIndex(kind)
    panel.id_edit.setText(what)
    panel.path_edit.setText(path)
    qtbot.mouseClick(panel.start_btn, Qt.LeftButton)
    assert panel.running and not panel.start_btn.isEnabled() and panel.cancel_btn.isEnabled()
    qtbot.waitUntil(lambda: not panel.running, timeout=60_000)
    return panel.msg.text()


def save_shot(widget, name: str, tmp_path) -> Path:
    out = Path(os.environ.get("DESKTOP_SAE_SHOTS") or tmp_path) / name
    out.parent.mkdir(parents=True, exist_ok=True)
    assert widget.grab().save(str(out))
    return out


def test_download_a_pair_open_it_and_chat_with_its_features(make_window, tiny_sae_dir, hub_env, qtbot, tmp_path):
    win = make_window(pair_loader(tiny_sae_dir))
    ctl = win.controller
    win.menu_actions.assets.trigger()  # File > Models and SAEs…
    dlg = win.files.asset_manager
    assert dlg.isVisible() and dlg.current_model() is not None
    assert download(qtbot, dlg, 0, MODEL_REPO).startswith("Done: tiny-org/tiny-llama")
    assert dlg.current_model().id == f"hub:{MODEL_REPO}"  # listed and selected
    assert download(qtbot, dlg, 1, f"tiny-release/{SAE_PATH}").startswith("Done")
    sae = dlg.current_sae()
    assert sae.id == f"hub:{SAE_REPO}/{SAE_PATH}" and sae.sae.model_name == "tiny-llama"
    assert dlg.report.ok and "This pair can be opened" in dlg.report_view.toPlainText()
    assert Path(save_shot(dlg, "asset-manager.png", tmp_path)).stat().st_size > 10_000

    qtbot.mouseClick(dlg.open_btn, Qt.LeftButton)
    assert not dlg.isVisible()
    model = ctl.model
    qtbot.waitUntil(lambda: model.info is not None and model.info.sae_path == sae.path and model.ready,
                    timeout=60_000)
    assert model.info.model.name == MODEL_REPO and model.info.model.source == "folder" and not model.info.warnings
    qtbot.waitUntil(lambda: QApplication.activeWindow() is win, timeout=5000)  # the chat has the keyboard again
    set_sampling(win, temperature=0.0, max_new_tokens=12)
    events = ask(qtbot, win, "the bridge")
    answer = [e for e in events if not e.is_prompt]
    assert answer and all(e.top_ids is not None and len(e.top_ids) for e in answer)  # the new SAE's features
    assert win.features.model.rowCount() == 256
    plain, plain_events = ctl.conversation.last_answer(), answer_events(ctl)
    f = int(answer[0].top_ids[0])
    ctl.steering.steer(f, 40.0, "add", unit="raw")
    ctl.conversation.regenerate()
    qtbot.waitUntil(lambda: not ctl.conversation.busy, timeout=60_000)
    assert ctl.conversation.last_answer() != plain  # steering with the downloaded SAE's feature changes the answer
    assert_steered_towards(ctl, answer_events(ctl), plain_events)  # and moves it towards that feature


def test_a_refused_pair_shows_its_reasons_and_changes_nothing(make_window, tiny_sae_dir, hub_env, qtbot, tmp_path):
    win = make_window(pair_loader(tiny_sae_dir))
    dlg = win.files.show_asset_manager()
    download(qtbot, dlg, 0, MODEL_REPO)
    assert download(qtbot, dlg, 2, SAE_REPO, f"wide/{SAE_PATH}").startswith("Done")
    assert dlg.current_sae().sae.d_in == 32
    assert not dlg.report.ok and "width mismatch: the SAE reads vectors of d_in=32" in dlg.report_view.toPlainText()
    save_shot(dlg, "asset-manager-refused.png", tmp_path)
    before = win.controller.model.info
    qtbot.mouseClick(dlg.open_btn, Qt.LeftButton)
    assert dlg.isVisible() and "Not opened: width mismatch" in dlg.error.text()
    assert win.controller.model.info is before and not win.controller.jobs.outstanding


def test_cancel_a_download_from_the_dialog(make_window, tiny_sae_dir, hub_env, qtbot):
    win = make_window(pair_loader(tiny_sae_dir))
    dlg = win.files.show_asset_manager()
    hub_env.slow["model.safetensors"] = 0.2
    panel = dlg.download
    panel.kind.setCurrentIndex(0)
    panel.id_edit.setText(MODEL_REPO)
    qtbot.mouseClick(panel.start_btn, Qt.LeftButton)
    qtbot.waitUntil(lambda: "model.safetensors" in panel.msg.text(), timeout=30_000)
    qtbot.mouseClick(panel.cancel_btn, Qt.LeftButton)
    qtbot.waitUntil(lambda: not panel.running, timeout=2000)  # honoured within a second or so
    assert "cancelled" in panel.msg.text() and panel.start_btn.isEnabled()
    dlg.refresh()
    assert f"hub:{MODEL_REPO}" not in {dlg.models.topLevelItem(i).data(0, Qt.UserRole).id
                                       for i in range(dlg.models.topLevelItemCount())}


def test_import_in_the_dialog(make_window, tiny_sae_dir, qtbot, tmp_path):
    win = make_window(make_tiny_loader(tiny_sae_dir))
    dlg = win.files.show_asset_manager()
    junk = tmp_path / "junk.dat"
    junk.write_bytes(b"\x00\x01 not a model" * 50)
    assert not dlg.import_path(str(junk)) and "Not imported" in dlg.error.text()
    folder = tiny.save_tiny_sae(tmp_path / "mine", d_sae=128)
    assert dlg.import_path(str(folder), "my SAE")
    sae = dlg.current_sae()
    assert (sae.name, sae.source, sae.sae.d_sae) == ("my SAE", "imported", 128)
    assert "does not say which model" in dlg.report_view.toPlainText()  # the report is about the new selection
