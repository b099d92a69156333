"""The desktop app end to end (pytest-qt, offscreen): streaming, live plots, hover and click, Stop, errors,
closing. A user's input goes through the widgets; everything else through the public controller. Fast tests use
the tiny random model; integration tests the real bundled model."""

import numpy as np
import pytest
from PySide6.QtCore import Qt

from conftest import ask, make_tiny_loader
from conftest import set_sampling as _sampling
from desktop_sae.app.messages import JobKind

pytestmark = pytest.mark.gui


@pytest.mark.integration
def test_send_prompt_streams_tokens_with_the_real_model(make_window, real_sae_dir, qtbot):
    from desktop_sae.app.loading import LoadRequest

    win = make_window(load=LoadRequest(sae=str(real_sae_dir)))
    ctl = win.controller
    assert "SmolLM2" in win.status.model.text() and "SAE:" in win.status.sae.text()
    _sampling(win, max_new_tokens=12)
    shown = []
    ctl.conversation.token.connect(lambda ev: shown.append(win.chat.main_view.toPlainText()))
    seen = ask(qtbot, win, "What is the capital of France?")
    answer = [e for e in seen if not e.is_prompt]
    assert 2 <= len(answer) <= 12
    text = ctl.conversation.last_answer()
    assert text and text == "".join(e.delta for e in answer)
    assert text.strip() in win.chat.main_view.toPlainText()
    assert len(set(shown)) > 2, "the transcript did not grow while tokens streamed"
    assert answer[0].top_ids is not None and answer[0].top_vals.shape == answer[0].top_ids.shape
    assert "tok/s" in win.status.speed.text()
    ask(qtbot, win, "And of Italy?")  # multi-turn: the second request carries the first answer
    assert [m["role"] for m in ctl.conversation.messages()] == ["user", "assistant", "user", "assistant"]


def test_strip_chart_grows_during_streaming(make_window, tiny_sae_dir, qtbot):
    win = make_window(make_tiny_loader(tiny_sae_dir, delay=0.01))
    ctl = win.controller
    ctl.features.set_pinned((3, 5, 7, 11, 13))
    assert len(win.strip.curves) == 5
    _sampling(win, max_new_tokens=120, temperature=1.0)
    counts = []
    ctl.conversation.send("hello world")
    while ctl.conversation.busy:
        qtbot.wait(40)
        counts.append(win.strip.n_points("main"))
    qtbot.waitUntil(lambda: win.strip.n_points("main") == len(ctl.conversation.turns[-1].events["main"]), timeout=2000)
    final = win.strip.n_points("main")
    grew = sorted(set(c for c in counts if 0 < c < final))
    assert len(grew) >= 3, f"curve did not grow while streaming: {counts}"
    assert final >= 100
    x, y = win.strip.curves[("main", 3)].getData()
    assert len(y) == final and np.isfinite(y).all()


def test_steered_features_are_plotted_without_pinning(make_window, tiny_sae_dir, qtbot):
    win = make_window(make_tiny_loader(tiny_sae_dir))
    ctl = win.controller
    ctl.steering.steer(9, 2.0)
    _sampling(win, max_new_tokens=6)
    ask(qtbot, win, "hi")
    assert ("main", 9) in win.strip.curves and ctl.features.pinned == ()
    qtbot.waitUntil(lambda: win.strip.n_points("main") > 0, timeout=2000)


def test_hover_and_click_a_token(make_window, tiny_sae_dir, qtbot):
    win = make_window(make_tiny_loader(tiny_sae_dir))
    ctl = win.controller
    _sampling(win, max_new_tokens=8)
    ask(qtbot, win, "the quick brown fox")
    ev = next(e for e in ctl.conversation.turns[-1].events["main"] if e.delta)
    win.chat.main_view.tokenHovered.emit(ev.run, ev.index)  # what the transcript emits under the mouse
    assert ctl.features.inspected is ev
    qtbot.waitUntil(lambda: f"Token {ev.index}:" in win.token_view.title.text(), timeout=2000)
    assert win.token_view.list.item(0).data(Qt.UserRole) == int(ev.top_ids[0])
    win.chat.main_view.tokenClicked.emit(ev.run, ev.index)
    assert ctl.features.selected == int(ev.top_ids[0])
    assert win.detail.feature == int(ev.top_ids[0]) and win.features.current_feature() == int(ev.top_ids[0])
    ctl.features.color_by(int(ev.top_ids[0]))
    assert f"#{int(ev.top_ids[0])}" in win.chat.color_label.text()


def _count_worker_tokens(session):
    """Count, on the worker's side, every answer token the session generates, shown or not yet shown."""
    made, generate = [], session.generate

    def counting(*a, on_token=None, **kw):
        def count(e):
            if not e.is_prompt:
                made.append(e)
            if on_token is not None:
                on_token(e)

        return generate(*a, on_token=count, **kw)

    session.generate = counting
    return made


def test_stop_mid_answer(make_window, tiny_sae_dir, qtbot):
    """Esc ends the answer before the next token: the worker finishes at most the token it was computing when Stop
    was pressed. Tokens are counted, not timed (Stop latency is measured by tests/bench/bench_stop.py); the long wait
    is only a guard against a hang (ignoring Stop would take the 2000 tokens 20 s)."""
    win = make_window(make_tiny_loader(tiny_sae_dir, delay=0.01))
    ctl = win.controller
    made = _count_worker_tokens(ctl.runner.session)
    _sampling(win, max_new_tokens=2000)
    seen = []
    ctl.conversation.token.connect(seen.append)
    win.chat.input.setPlainText("go on forever")
    win.chat.send_btn.click()
    qtbot.waitUntil(lambda: sum(not e.is_prompt for e in seen) >= 5, timeout=10_000)
    qtbot.keyClick(win, Qt.Key_Escape)
    at_stop = len(made)  # read after Stop returned: the job's cancel flag is set by now
    qtbot.waitUntil(lambda: not ctl.conversation.busy, timeout=15_000)
    last = ctl.conversation.turns[-1]
    n = len(last.events["main"])
    assert last.stop_reason == "cancelled"
    assert 5 <= n <= at_stop + 1 and n == len(made), (n, at_stop, len(made))  # no token begun after Stop
    assert [e for e in seen if not e.is_prompt] == list(last.events["main"])  # every token made was shown
    assert "stop: cancelled" in win.status.message.text(), win.status.message.text()
    assert "[stopped]" in win.chat.main_view.toPlainText(), win.chat.main_view.toPlainText()[-300:]
    assert win.chat.send_btn.isEnabled() and not win.chat.stop_btn.isEnabled()


def test_worker_exception_is_reported_and_the_app_keeps_working(make_window, tiny_sae_dir, qtbot):
    from desktop_sae.core.steering.specs import SteeringConfig, SteerSpec

    win = make_window(make_tiny_loader(tiny_sae_dir))
    ctl = win.controller
    _sampling(win, max_new_tokens=6)
    win.controller.runner.session.fail_next = RuntimeError("simulated failure in the worker")  # a faulty test session
    ask(qtbot, win, "first")
    assert "simulated failure" in ctl.notices.last_error
    assert "simulated failure" in win.chat.main_view.toPlainText()
    from desktop_sae.core.support.errors import SteeringError

    with pytest.raises(SteeringError, match="feature 5000 does not exist"):  # refused before anything changes
        ctl.steering.set_steering(SteeringConfig((SteerSpec(5000, 1.0, "raw", "add"),)))
    runner_session = win.controller.runner.session
    runner_session.fail_next = RuntimeError("a second failure")
    assert ctl.conversation.regenerate()
    qtbot.waitUntil(lambda: not ctl.conversation.busy, timeout=10_000)
    assert "a second failure" in ctl.notices.last_error
    ctl.steering.clear()
    assert ctl.conversation.regenerate()
    qtbot.waitUntil(lambda: not ctl.conversation.busy, timeout=10_000)
    assert ctl.conversation.last_answer()
    assert [t.role for t in ctl.conversation.turns] == ["user", "assistant"]


def test_results_arrive_on_the_gui_thread_and_polling_stops_when_idle(make_window, tiny_sae_dir, qtbot):
    """Results reach the widgets on the GUI thread; the inference thread has no Qt signals to emit (a worker
    emitting while holding the GIL can deadlock against the GUI thread deleting widgets)."""
    import threading

    win = make_window(make_tiny_loader(tiny_sae_dir))
    ctl = win.controller
    _sampling(win, max_new_tokens=8)
    gui = threading.get_ident()
    threads = []
    ctl.conversation.token.connect(lambda ev: threads.append(threading.get_ident() == gui))
    ctl.conversation.answer_finished.connect(lambda *a: threads.append(threading.get_ident() == gui))
    ask(qtbot, win, "hello")
    assert len(threads) > 8 and all(threads)
    assert not win.worker.pump.timer.isActive()  # idle: no polling once every job is done


def test_a_burst_of_messages_is_delivered_over_several_ticks(make_window, tiny_sae_dir, qtbot):
    """poll() stops after its time budget (the window stays responsive) and delivers the rest on later calls."""
    win = make_window(make_tiny_loader(tiny_sae_dir))
    ctl = win.controller
    seen = []

    def chatty(session, state):
        for i in range(20_000):
            state.progress(0.5, f"m{i}")
        return len(seen)

    job = ctl.jobs.submit(JobKind.SWEEP, chatty, on_progress=lambda f, m: seen.append(m))
    win.worker.pump.timer.stop()
    qtbot.waitUntil(lambda: win.controller.runner.live(JobKind.SWEEP) == [], timeout=10_000)  # all 20 000 posted
    ctl.poll(budget_s=0.0)
    assert len(seen) <= 1
    ctl.poll(budget_s=0.001)
    assert 0 < len(seen) < 20_000
    win.worker.pump.timer.start()
    qtbot.waitUntil(lambda: not ctl.jobs.outstanding, timeout=10_000)
    assert seen == [f"m{i}" for i in range(20_000)] and job


def test_closing_mid_answer_leaves_no_running_thread(make_window, tiny_sae_dir, qtbot):
    win = make_window(make_tiny_loader(tiny_sae_dir, delay=0.01))
    _sampling(win, max_new_tokens=5000)
    win.controller.conversation.send("long")
    qtbot.wait(200)
    assert win.controller.conversation.busy
    win.close()
    assert win.worker.thread.isFinished() and not win.worker.thread.isRunning()


def test_load_failure_is_reported(qtbot):
    from desktop_sae.app.loading import LoadRequest
    from desktop_sae.gui.app import build_window

    def broken(req, progress, cancelled=None):
        raise FileNotFoundError("no such model: /nowhere")

    win = build_window(LoadRequest(model="/nowhere"), loader=broken)
    qtbot.addWidget(win)
    qtbot.waitUntil(lambda: win.controller.notices.last_error is not None, timeout=5000)
    assert "/nowhere" in win.controller.notices.last_error and not win.controller.model.ready
    assert not win.chat.send_btn.isEnabled()
    win.close()
    assert not win.worker.thread.isRunning()
