"""The desktop app end to end (pytest-qt, offscreen): streaming, live plots, steering, side by side, presets,
Stop, worker errors, closing. Fast tests use a tiny random model; integration tests the real bundled model."""

import json

import numpy as np
import pytest
from conftest import ask, make_tiny_loader
from PySide6.QtCore import Qt, QThread
from PySide6.QtWidgets import QMessageBox

from desktop_sae.core.generation import SamplingConfig
from desktop_sae.core.steering import SteerSpec, SteeringConfig

pytestmark = pytest.mark.gui


def _sampling(win, **kw):
    base = SamplingConfig(temperature=0.5, seed=7, max_new_tokens=20)
    from dataclasses import replace

    win.chat.sampling.set_config(replace(base, **kw))


# --- streaming and plots -----------------------------------------------------------------------------------
@pytest.mark.integration
def test_send_prompt_streams_tokens_with_the_real_model(make_window, real_sae_dir, qtbot):
    from desktop_sae.gui.worker import LoadRequest

    win = make_window(load=LoadRequest(sae=str(real_sae_dir)))
    assert "SmolLM2" in win.lbl_model.text() and "SAE:" in win.lbl_sae.text()
    _sampling(win, max_new_tokens=12)
    shown = []
    win.client.token.connect(lambda ev: shown.append(win.chat.main_view.toPlainText()))
    seen = ask(qtbot, win, "What is the capital of France?")
    answer = [e for e in seen if not e.is_prompt]
    assert 2 <= len(answer) <= 12
    text = win.chat.last_answer()
    assert text and text == "".join(e.delta for e in answer)
    assert text.strip() in win.chat.main_view.toPlainText()
    assert len(set(shown)) > 2, "the transcript did not grow while tokens streamed"
    assert answer[0].top_ids is not None and answer[0].top_vals.shape == answer[0].top_ids.shape
    assert "tok/s" in win.lbl_speed.text()
    # multi-turn: the second request carries the first answer in its history
    ask(qtbot, win, "And of Italy?")
    assert [m["role"] for m in win.chat.messages] == ["user", "assistant", "user", "assistant"]


def test_strip_chart_grows_during_streaming(make_window, tiny_sae_dir, qtbot):
    win = make_window(make_tiny_loader(tiny_sae_dir, delay=0.01))
    for f in (3, 5, 7, 11, 13):
        win.toggle_pin(f)
    assert len(win.strip.curves) == 5
    _sampling(win, max_new_tokens=120, temperature=1.0)
    counts = []
    win.chat.input.setPlainText("hello world")
    win.chat.send_btn.click()
    while win.client.busy:
        qtbot.wait(40)
        counts.append(win.strip.n_points("main"))
    final = win.strip.n_points("main")
    grew = sorted(set(c for c in counts if 0 < c < final))
    assert len(grew) >= 3, f"curve did not grow while streaming: {counts}"
    assert final >= 100
    x, y = win.strip.curves[("main", 3)].getData()
    assert len(y) == final and np.isfinite(y).all()


def test_hover_and_click_a_token(make_window, tiny_sae_dir, qtbot):
    win = make_window(make_tiny_loader(tiny_sae_dir))
    _sampling(win, max_new_tokens=8)
    ask(qtbot, win, "the quick brown fox")
    (run, idx), ev = next(((k, e) for k, e in win.chat.events.items() if not e.is_prompt and e.delta))
    win.chat.main_view.tokenHovered.emit(run, idx)
    qtbot.waitUntil(lambda: win.token_view._pending is None and win.token_view.list.count() > 0, timeout=2000)
    assert f"Token {ev.index}:" in win.token_view.title.text()
    assert win.token_view.list.item(0).data(Qt.UserRole) == int(ev.top_ids[0])
    win.chat.main_view.tokenClicked.emit(run, idx)
    assert win.detail.feature == int(ev.top_ids[0]) and win.features.current_feature() == int(ev.top_ids[0])
    win.color_by(int(ev.top_ids[0]))
    assert f"#{int(ev.top_ids[0])}" in win.chat.color_label.text()


# --- steering ------------------------------------------------------------------------------------------------
@pytest.mark.integration
def test_adding_a_feature_and_moving_its_slider_changes_the_next_answer(make_window, real_sae_dir, qtbot):
    from desktop_sae.gui.worker import LoadRequest

    win = make_window(load=LoadRequest(sae=str(real_sae_dir)))
    _sampling(win, max_new_tokens=10, temperature=0.0)
    ask(qtbot, win, "Tell me a fact.")
    base = win.chat.last_answer()
    f = int(win.catalog.active_ids("max")[0])  # a feature that fired in the answer
    win.features.select(f)
    win.features.steer_btn.click()
    row = win.steering.rows[0]
    assert row.feature == f and row.unit == "max"
    win.clear_chat()
    ask(qtbot, win, "Tell me a fact.")
    assert win.chat.last_answer() == base, "strength 0 must not change the answer"
    row.slider.setValue(-120)  # -12x max activation
    assert row.value.value() == pytest.approx(-12.0)
    assert "raw" in row.units.text() and "norm" in row.units.text()
    with qtbot.waitSignal(win.steering.changed, timeout=3000):
        pass
    win.clear_chat()
    ask(qtbot, win, "Tell me a fact.")
    assert win.chat.last_answer() != base


def test_auto_rerun_latest_wins(make_window, tiny_sae_dir, qtbot):
    win = make_window(make_tiny_loader(tiny_sae_dir, delay=0.005))
    _sampling(win, max_new_tokens=60)
    ask(qtbot, win, "hello")
    win.steering.auto.setChecked(True)
    row = win.steering.add_feature(9, "nine")
    ids = []
    win.client._generate.connect(lambda req: ids.append(req.id))
    for v in (20, 60, 100, 140):  # a drag: one debounced re-run with the final value
        row.slider.setValue(v)
        qtbot.wait(20)
    qtbot.waitUntil(lambda: len(ids) >= 1 and not win.client.busy, timeout=20_000)
    assert len(ids) == 1
    assert [t["role"] for t in win.chat.turns] == ["user", "assistant"]
    # a second change while that answer streams cancels it; only the newest answer is kept
    row.slider.setValue(-100)
    qtbot.waitUntil(lambda: win.client.busy, timeout=3000)
    row.slider.setValue(-150)
    qtbot.waitUntil(lambda: len(ids) == 3 and not win.client.busy, timeout=20_000)
    assert [t["role"] for t in win.chat.turns] == ["user", "assistant"]
    assert win.chat.messages[-1]["role"] == "assistant"


def test_side_by_side_gives_both_answers_from_one_seed(make_window, tiny_sae_dir, qtbot):
    win = make_window(make_tiny_loader(tiny_sae_dir))
    _sampling(win, max_new_tokens=16, temperature=0.8, seed=123)
    ask(qtbot, win, "the bridge")
    plain = win.chat.last_answer()
    win.clear_chat()
    win.steering.set_config(SteeringConfig((SteerSpec(4, 15.0, "max", "add", True, "four"),)))
    win.chat.compare.setChecked(True)
    assert win.chat.default_view.isVisible()
    seen = ask(qtbot, win, "the bridge")
    assert {e.run for e in seen} == {"steered", "default"}
    assert win.chat.last_answer("default") == plain  # default run = unsteered, same seed
    assert win.chat.last_answer() != plain
    assert win.chat.last_answer() in win.chat.main_view.toPlainText()
    assert plain in win.chat.default_view.toPlainText()
    assert {r for r, _ in win.strip.curves} == {"steered", "default"} or not win.pinned


# --- presets -------------------------------------------------------------------------------------------------
def _set_state(win):
    win.steering.set_config(SteeringConfig(
        (SteerSpec(3, 4.5, "max", "clamp", True, "three"), SteerSpec(17, -2.0, "max", "add", False, "seventeen")),
        multiplier=0.75, skip_special=False))
    _sampling(win, temperature=0.9, top_p=0.8, frequency_penalty=0.3, seed=99, max_new_tokens=33)
    win.chat.system.setText("Answer like a pirate.")


def _state(win):
    return win.steering.config(), win.chat.sampling.full_config(), win.chat.system_prompt()


def test_preset_save_load_round_trip_restores_everything(make_window, tiny_sae_dir, qtbot):
    win = make_window(make_tiny_loader(tiny_sae_dir))
    _set_state(win)
    before = _state(win)
    path = win.save_preset("Pirate mode")
    assert path is not None and path.exists()
    win.steering.clear()
    win.steering.mult.setValue(2.0)
    _sampling(win)
    win.chat.system.setText("")
    assert _state(win) != before
    assert win.load_preset(path)
    assert _state(win) == before
    assert [r.feature for r in win.steering.rows] == [3, 17] and not win.steering.rows[1].enabled.isChecked()
    assert win.store.recent()[0] == path.resolve()


@pytest.mark.parametrize("kind", ["corrupt", "other_sae", "unknown_feature", "bad_value"])
def test_bad_preset_shows_an_error_and_changes_nothing(make_window, tiny_sae_dir, qtbot, tmp_path, kind):
    win = make_window(make_tiny_loader(tiny_sae_dir))
    _set_state(win)
    good = win.save_preset("good")
    before = _state(win)
    d = json.loads(good.read_text())
    if kind == "corrupt":
        text = good.read_text()[:-40]
    else:
        if kind == "other_sae":
            d["sae"]["d_sae"] = 4096
        elif kind == "unknown_feature":
            d["sae"] = {"name": "", "d_sae": 0, "hook": "", "fingerprint": ""}
            d["steering"]["features"][1]["id"] = 999_999
        else:
            d["steering"]["features"][0]["strength"] = "very"
        d["sampling"]["temperature"] = 0.1  # would change sampling if anything were applied
        text = json.dumps(d)
    bad = tmp_path / f"{kind}.json"
    bad.write_text(text)
    assert not win.load_preset(bad)
    assert _state(win) == before
    expected = {"corrupt": "not valid JSON", "other_sae": "another SAE", "unknown_feature": "999999",
                "bad_value": "strength"}[kind]
    assert expected in win.last_error
    boxes = [b for b in win.findChildren(QMessageBox) if b.isVisible()]
    assert boxes and expected in boxes[-1].text()


# --- stop, errors, closing -------------------------------------------------------------------------------------
def test_stop_mid_answer(make_window, tiny_sae_dir, qtbot):
    win = make_window(make_tiny_loader(tiny_sae_dir, delay=0.01))
    _sampling(win, max_new_tokens=2000)
    seen = []
    win.client.token.connect(seen.append)
    win.chat.input.setPlainText("go on forever")
    win.chat.send_btn.click()
    qtbot.waitUntil(lambda: sum(not e.is_prompt for e in seen) >= 5, timeout=10_000)
    qtbot.keyClick(win, Qt.Key_Escape)
    qtbot.waitUntil(lambda: not win.client.busy, timeout=2000)
    n = sum(not e.is_prompt for e in seen)
    assert 5 <= n < 200
    assert "stop: cancelled" in win.status_msg.text(), win.status_msg.text()
    assert "[stopped]" in win.chat.main_view.toPlainText(), win.chat.main_view.toPlainText()[-300:]
    assert win.chat.send_btn.isEnabled() and not win.chat.stop_btn.isEnabled()


def test_worker_exception_is_reported_and_the_app_keeps_working(make_window, tiny_sae_dir, qtbot):
    win = make_window(make_tiny_loader(tiny_sae_dir))
    _sampling(win, max_new_tokens=6)
    win.client.inject_fault(RuntimeError("simulated failure in the worker"))
    ask(qtbot, win, "first")
    assert "simulated failure" in win.last_error
    assert "simulated failure" in win.chat.main_view.toPlainText()
    # a bad steering request is an error too, not a crash
    win.steering.set_config(SteeringConfig((SteerSpec(5000, 1.0, "raw", "add"),)))
    win.regenerate()
    qtbot.waitUntil(lambda: not win.client.busy, timeout=10_000)
    assert "feature 5000 does not exist" in win.last_error
    win.steering.clear()
    win.steering.mult.setValue(1.0)
    win.regenerate()
    qtbot.waitUntil(lambda: not win.client.busy, timeout=10_000)
    assert win.chat.last_answer()
    assert win.chat.messages[-1]["role"] == "assistant"


def test_worker_messages_arrive_on_the_gui_thread_and_the_worker_emits_nothing(make_window, tiny_sae_dir, qtbot):
    """Results reach the GUI as signals emitted on the GUI thread; the worker itself has no Qt signals (a worker
    emitting while holding the GIL can deadlock against the GUI thread deleting widgets)."""
    from PySide6.QtCore import Signal
    from PySide6.QtWidgets import QApplication

    from desktop_sae.gui.worker import InferenceWorker

    assert not [n for n, v in vars(InferenceWorker).items() if isinstance(v, Signal)]
    win = make_window(make_tiny_loader(tiny_sae_dir))
    _sampling(win, max_new_tokens=8)
    gui_thread = QApplication.instance().thread()
    threads = []
    win.client.token.connect(lambda ev: threads.append(QThread.currentThread() is gui_thread))
    win.client.finished.connect(lambda res: threads.append(QThread.currentThread() is gui_thread))
    ask(qtbot, win, "hello")
    assert len(threads) > 8 and all(threads)
    assert not win.client._drain_timer.isActive()  # idle: no polling once every request is done


def test_a_burst_of_worker_messages_is_delivered_over_several_ticks(make_window, tiny_sae_dir, qtbot):
    """drain() stops after its time budget (the window stays responsive) and delivers the rest on later calls."""
    win = make_window(make_tiny_loader(tiny_sae_dir))
    seen = []
    win.client.loadProgress.connect(lambda f, m: seen.append(m))
    for i in range(20_000):
        win.client.worker.outbox.put(("loadProgress", 0.5, f"m{i}"))
    win.client.drain(budget_s=0.0)
    assert seen == []
    win.client.drain(budget_s=0.001)
    assert 0 < len(seen) < 20_000
    win.client.drain(budget_s=60.0)
    assert seen == [f"m{i}" for i in range(20_000)]


def test_stale_results_are_dropped(make_window, tiny_sae_dir, qtbot):
    win = make_window(make_tiny_loader(tiny_sae_dir, delay=0.005))
    got = []
    win.client.finished.connect(got.append)
    kw = dict(messages=({"role": "user", "content": "hi"},), system=None,
              sampling=SamplingConfig(max_new_tokens=200, seed=1))
    first = win.client.submit(**kw)
    second = win.client.submit(**{**kw, "sampling": SamplingConfig(max_new_tokens=5, seed=1)})
    assert second > first
    qtbot.waitUntil(lambda: not win.client.busy, timeout=10_000)
    qtbot.wait(200)
    assert len(got) == 1 and len(got[0]["main"].answer_ids) <= 5


def test_closing_mid_answer_leaves_no_running_thread(make_window, tiny_sae_dir, qtbot):
    win = make_window(make_tiny_loader(tiny_sae_dir, delay=0.01))
    _sampling(win, max_new_tokens=5000)
    win.chat.input.setPlainText("long")
    win.chat.send_btn.click()
    qtbot.wait(200)
    assert win.client.busy
    thread: QThread = win.client.thread
    win.close()
    assert thread.isFinished() and not thread.isRunning()


def test_load_failure_is_reported(qtbot, tmp_path):
    from desktop_sae.gui.main_window import MainWindow
    from desktop_sae.gui.worker import LoadRequest

    def broken(req, progress, cancelled=None):
        raise FileNotFoundError("no such model: /nowhere")

    win = MainWindow(LoadRequest(model="/nowhere"), loader=broken)
    qtbot.addWidget(win)
    qtbot.waitUntil(lambda: win.last_error is not None, timeout=5000)
    assert "/nowhere" in win.last_error and not win.ready
    assert not win.chat.send_btn.isEnabled()
    win.close()
    assert not win.client.thread.isRunning()


# --- feature panel ---------------------------------------------------------------------------------------------
def test_feature_search_labels_and_detail(make_window, tiny_sae_dir, qtbot):
    win = make_window(make_tiny_loader(tiny_sae_dir))
    fp = win.features
    assert fp.model.rowCount() == 256
    qtbot.keyClick(win, Qt.Key_F, Qt.ControlModifier)
    fp.search.setText("#42")
    assert list(fp.model.rows) == [42]
    fp.search.setText("")
    win.set_label(42, "Golden Gate bridge")
    saved = json.loads((tiny_sae_dir / "labels.user.json").read_text())
    assert saved == {"42": "Golden Gate bridge"}
    fp.search.setText("golden bridge")
    assert list(fp.model.rows) == [42]
    fp.select(42)
    assert "Golden Gate bridge" in win.detail.title.text()
    qtbot.waitUntil(lambda: "promotes" in win.detail.logits.text(), timeout=5000)  # computed by the worker
    win.set_label(42, "")  # clearing restores the automatic label
    assert json.loads((tiny_sae_dir / "labels.user.json").read_text()) == {}


def test_feature_dashboard_with_a_dictionary(make_window, tiny_sae_with_dictionary, qtbot):
    from desktop_sae.core.training.dictionary import FeatureDictionary

    d = FeatureDictionary.load(tiny_sae_with_dictionary)
    f = max(range(len(d)), key=lambda i: d.entry(i)["max_activation"])
    e = d.entry(f)
    win = make_window(make_tiny_loader(tiny_sae_with_dictionary))
    assert win.catalog.dictionary is not None and win.catalog.label(f) == e["label"]
    win.features.search.setText(e["label"].split()[0])
    assert f in list(win.features.model.rows)
    win.features.search.setText("")
    win.features.select(f)
    assert e["label"] in win.detail.title.text()
    assert "promotes" in win.detail.logits.text() and e["top_logits"][0][0].strip() in win.detail.logits.text()
    html = win.detail.contexts.toHtml()
    assert html.count("background-color") >= 2  # highlighted tokens in the top contexts
    assert win.detail.hist.isVisibleTo(win.detail)
    h = win.detail.hist_bars.opts["height"]
    assert int(sum(h)) == sum(e["histogram"]["counts"])
    # a user label is written where the dictionary module reads it, in its format
    win.set_label(f, "my own label")
    assert FeatureDictionary.load(tiny_sae_with_dictionary).labels[f] == "my own label"


def test_settings_and_layout_persist(make_window, tiny_sae_dir, qtbot):
    from desktop_sae.core import paths

    win = make_window(make_tiny_loader(tiny_sae_dir))
    win.chat.system.setText("Be brief.")
    win.chat.sampling.temperature.setValue(0.9)
    win.chat.sampling.max_tokens.setValue(77)
    win.docks["token"].hide()
    win.close()
    assert (paths.config_dir() / "desktop-sae.ini").exists()
    again = make_window(make_tiny_loader(tiny_sae_dir))
    assert again.chat.system.text() == "Be brief."
    assert again.chat.sampling.temperature.value() == pytest.approx(0.9)
    assert again.chat.sampling.max_tokens.value() == 77
    assert not again.docks["token"].isVisible()


def test_screenshot_command_is_registered_without_importing_qt():
    import subprocess
    import sys

    code = ("import sys, desktop_sae.cli as c; p = c.build_parser(); "
            "a = p.parse_args(['screenshot', 'x.png', '--steer', '3=4x', '--compare']); "
            "assert a.func.__name__ == 'cmd_screenshot' and a.compare; "
            "assert not [m for m in sys.modules if m.startswith('PySide6')]")
    subprocess.run([sys.executable, "-c", code], check=True)
