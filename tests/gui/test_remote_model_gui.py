"""File → Open remote model (nnsight / NDIF)… in the running app (pytest-qt, offscreen): the tiny model opened
through nnsight in this process chats, shows per-token features and steers with the tokens of a local Session on the
same model; another SAE keeps the model on nnsight; NDIF without a key or a server says so at once and leaves the
loaded model in use, with the key masked, remembered and never in a message."""

import socket
import time

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLineEdit, QMessageBox

import tiny
from conftest import ask, make_tiny_loader, set_sampling
from desktop_sae.core.engine.lite.choice import ENGINE_ENV
from desktop_sae.core.engine.models import load_model
from desktop_sae.core.engine.session import Session
from desktop_sae.core.remote.nnsight_session import NnsightSession
from desktop_sae.core.sae.formats import load_sae
from desktop_sae.core.steering.specs import SteeringConfig
from desktop_sae.gui.remote_dialog import RemoteModelDialog, SettingKey

pytestmark = pytest.mark.gui
KEY = "ndif-test-key-0123456789"
NDIF_MODEL = "meta-llama/Llama-3.1-8B"


@pytest.fixture(scope="module")
def tiny_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("remote_gui") / "tiny-llama"
    tiny.tiny_model("llama").save_pretrained(folder)
    tiny.tiny_tokenizer().save_pretrained(folder)
    return folder


def remote_dialog(win):
    win.menu_actions.open_remote.trigger()
    dlg = win.files.remote_dialog
    assert dlg is not None and dlg.isVisible()
    return dlg


def click_open(qtbot, win, dlg):
    """Open, as a user does; the main window is active again once the dialog has gone."""
    qtbot.mouseClick(dlg.open_button, Qt.MouseButton.LeftButton)
    win.activateWindow()
    qtbot.waitUntil(win.isActiveWindow, timeout=5_000)


def answer_ids(events):
    return [e.token_id for e in events if not e.is_prompt]


def test_nnsight_model_chats_shows_features_and_steers_like_a_session(make_window, tiny_sae_dir, tiny_folder,
                                                                       tmp_path, qtbot, monkeypatch):
    win = make_window(make_tiny_loader(tiny_sae_dir))
    ctl = win.controller
    dlg = remote_dialog(win)
    dlg.in_process.setChecked(True)
    assert not dlg.api_key.isEnabled() and not dlg.trust.isEnabled()  # NDIF's fields: not for this process
    dlg.model_id.setText(str(tiny_folder))
    dlg.sae.setText(str(tiny_sae_dir))
    loaded = []
    ctl.model.loaded.connect(loaded.append)
    click_open(qtbot, win, dlg)
    qtbot.waitUntil(lambda: bool(loaded) and not ctl.model.loading, timeout=60_000)
    assert ctl.notices.last_error is None
    assert loaded[-1].model.source == "nnsight" and loaded[-1].sae is not None
    assert isinstance(ctl.runner.session, NnsightSession)
    assert win.status.model.text() == "nnsight · tiny-llama"

    # the same requests on a local Session (transformers, float32, as the nnsight backend loads the model)
    with monkeypatch.context() as m:
        m.setenv(ENGINE_ENV, "transformers")
        lm = load_model(str(tiny_folder), device="cpu", dtype="float32")
    local = Session(lm, load_sae(tiny_sae_dir))
    msgs = [{"role": "user", "content": "hello"}]

    def local_ids(steering=SteeringConfig()):
        return list(local.generate(msgs, ctl.conversation.sampling, steering).answer_ids)

    set_sampling(win, max_new_tokens=10, temperature=0.7, seed=11)
    sampled = ask(qtbot, win, "hello")
    answer = [e for e in sampled if not e.is_prompt]
    assert len(answer) == 10 and ctl.conversation.last_answer()
    assert answer_ids(sampled) == local_ids()
    assert all(e.top_ids is not None and (e.top_vals > 0).any() for e in answer)  # per-token features
    active = set(int(f) for f in ctl.model.catalog.active_ids("max"))  # what the feature panel sorts by
    assert int(answer[0].top_ids[0]) in active

    # a steering slider: greedy, since the tiny random model's near-uniform logits leave sampled tokens to the seed
    set_sampling(win, max_new_tokens=10, temperature=0.0)
    ctl.conversation.clear()
    plain = ask(qtbot, win, "hello")
    ctl.steering.steer(9)
    row = win.steering.row(9)
    row.slider.setValue(60)  # 6x max activation
    assert ctl.steering.config.features[0].strength == pytest.approx(6.0)
    ctl.conversation.clear()
    steered = ask(qtbot, win, "hello")
    assert answer_ids(steered) != answer_ids(plain)
    assert answer_ids(plain) == local_ids() and answer_ids(steered) == local_ids(ctl.steering.config)

    # another SAE goes on the same nnsight model (the session keeps its class)
    other = tiny.save_tiny_sae(tmp_path / "other-sae", seed=3)
    ctl.model.load_sae(str(other))
    qtbot.waitUntil(lambda: not ctl.model.loading, timeout=30_000)
    assert ctl.notices.last_error is None and ctl.model.info.sae_path == str(other)
    assert isinstance(ctl.runner.session, NnsightSession)
    assert ctl.runner.session.run_on is not None and ctl.model.info.model.source == "nnsight"


def test_ndif_without_a_key_says_so_at_once_and_keeps_the_model(make_window, tiny_sae_dir, qtbot):
    win = make_window(make_tiny_loader(tiny_sae_dir))
    ctl = win.controller
    before = ctl.model.info
    dlg = remote_dialog(win)
    dlg.on_ndif.setChecked(True)
    dlg.model_id.setText(NDIF_MODEL)
    dlg.api_key.clear()
    assert "torch.load(weights_only=False)" in dlg.trust_note.text()
    assert not dlg.trust.isChecked() and not dlg.open_button.isEnabled()  # trust not confirmed yet
    dlg.trust.setChecked(True)
    assert dlg.open_button.isEnabled()
    t0 = time.monotonic()
    click_open(qtbot, win, dlg)
    qtbot.waitUntil(lambda: ctl.notices.last_error is not None, timeout=5_000)
    assert time.monotonic() - t0 < 2.0
    assert ctl.notices.last_error.startswith("NDIF needs an API key: get one at https://login.ndif.us")
    boxes = [b for b in win.findChildren(QMessageBox) if b.isVisible()]
    assert any("NDIF needs an API key" in b.text() for b in boxes)  # a notice in the window
    assert ctl.model.info is before and ctl.model.ready and not isinstance(ctl.runner.session, NnsightSession)
    for b in boxes:  # the user reads the notice and closes it
        b.close()
    win.activateWindow()
    qtbot.waitUntil(win.isActiveWindow, timeout=5_000)
    assert ask(qtbot, win, "hello") and ctl.conversation.last_answer()  # the old model still answers


def test_ndif_without_a_server_hides_the_key_and_remembers_it_masked(make_window, tiny_sae_dir, qtbot):
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        host = f"http://127.0.0.1:{s.getsockname()[1]}"
    win = make_window(make_tiny_loader(tiny_sae_dir))
    ctl = win.controller
    dlg = remote_dialog(win)
    dlg.on_ndif.setChecked(True)
    dlg.model_id.setText(NDIF_MODEL)
    dlg.host.setText(host)
    dlg.api_key.setText(KEY)
    assert dlg.api_key.echoMode() == QLineEdit.EchoMode.Password
    dlg.trust.setChecked(True)
    click_open(qtbot, win, dlg)
    qtbot.waitUntil(lambda: ctl.notices.last_error is not None, timeout=10_000)
    assert ctl.notices.last_error.startswith(f"cannot reach NDIF at {host}")
    assert KEY not in ctl.notices.last_error and KEY not in ctl.notices.status
    assert not any(KEY in b.text() for b in win.findChildren(QMessageBox))
    assert ctl.model.ready and ctl.model.info.model.name == "tiny-llama"
    # remembered with the settings, and the trust confirmation holds for that host only
    assert win.settings.value(SettingKey.API_KEY) == KEY and win.settings.value(SettingKey.TRUSTED_HOST) == host
    dlg = RemoteModelDialog(ctl.model, win.settings, win)  # a new dialog reads them back
    assert dlg.api_key.text() == KEY and dlg.host.text() == host and dlg.trust.isChecked()
    dlg.host.setText("https://another.example")
    assert not dlg.trust.isChecked() and not dlg.open_button.isEnabled()
    dlg.reject()
