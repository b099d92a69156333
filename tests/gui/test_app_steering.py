"""Steering, side by side, presets and swapping the SAE in the running app (pytest-qt, offscreen)."""

import json

import pytest
from PySide6.QtWidgets import QMessageBox

import tiny
from conftest import ask, make_tiny_loader
from conftest import set_sampling as _sampling
from desktop_sae.app.messages import JobKind
from desktop_sae.core.engine.sampling import SamplingConfig
from desktop_sae.core.steering.specs import SteeringConfig, SteerSpec
from steer_direction import answer_events, assert_steered_towards

pytestmark = pytest.mark.gui


@pytest.mark.integration
def test_adding_a_feature_and_moving_its_slider_changes_the_next_answer(make_window, real_sae_dir, qtbot):
    from desktop_sae.app.loading import LoadRequest

    win = make_window(load=LoadRequest(sae=str(real_sae_dir)))
    ctl = win.controller
    _sampling(win, max_new_tokens=10, temperature=0.0)
    ask(qtbot, win, "Tell me a fact.")
    base = ctl.conversation.last_answer()
    f = int(ctl.model.catalog.active_ids("max")[0])  # a feature that fired in the answer
    win.features.select(f)
    win.features.steer_btn.click()
    row = win.steering.rows[0]
    assert row.feature == f and row.unit == "max"
    ctl.conversation.clear()
    ask(qtbot, win, "Tell me a fact.")
    assert ctl.conversation.last_answer() == base, "strength 0 must not change the answer"
    row.slider.setValue(-120)  # -12x max activation
    assert row.value.value() == pytest.approx(-12.0)
    assert ctl.steering.config.features[0].strength == pytest.approx(-12.0)
    assert "raw" in row.units.text() and "norm" in row.units.text()
    ctl.conversation.clear()
    ask(qtbot, win, "Tell me a fact.")
    assert ctl.conversation.last_answer() != base
    # direction: any large push away from the base answer lowers a feature that fired in it, so the -12x answer is
    # compared with the +12x one: read back unsteered, the feature is lower in the first
    down, down_config = answer_events(ctl), ctl.steering.config
    row.slider.setValue(120)
    ctl.conversation.clear()
    ask(qtbot, win, "Tell me a fact.")
    assert_steered_towards(ctl, down, answer_events(ctl), down_config)


def test_auto_rerun_latest_wins(make_window, tiny_sae_dir, qtbot):
    win = make_window(make_tiny_loader(tiny_sae_dir, delay=0.005))
    ctl = win.controller
    _sampling(win, max_new_tokens=60)
    ask(qtbot, win, "hello")
    win.steering.auto.setChecked(True)
    ctl.steering.steer(9)
    row = win.steering.row(9)
    jobs = []
    ctl.jobs.submitted.connect(jobs.append)
    for v in (20, 60, 100, 140):  # a drag: one debounced re-run with the final value
        row.slider.setValue(v)
        qtbot.wait(20)
    qtbot.waitUntil(lambda: len(jobs) >= 1 and not ctl.conversation.busy, timeout=20_000)
    assert len(jobs) == 1
    assert [t.role for t in ctl.conversation.turns] == ["user", "assistant"]
    # a second change while that answer streams cancels it; only the newest answer is kept
    row.slider.setValue(-100)
    qtbot.waitUntil(lambda: ctl.conversation.busy, timeout=3000)
    row.slider.setValue(-150)
    qtbot.waitUntil(lambda: len(jobs) == 3 and not ctl.conversation.busy, timeout=20_000)
    assert [t.role for t in ctl.conversation.turns] == ["user", "assistant"]
    assert ctl.steering.config.features[0].strength == pytest.approx(row.value.value())


def test_side_by_side_gives_both_answers_from_one_seed(make_window, tiny_sae_dir, qtbot):
    win = make_window(make_tiny_loader(tiny_sae_dir))
    ctl = win.controller
    _sampling(win, max_new_tokens=16, temperature=0.8, seed=123)
    ask(qtbot, win, "the bridge")
    plain = ctl.conversation.last_answer()
    ctl.conversation.clear()
    ctl.steering.steer(4, 15.0)
    win.chat.compare.setChecked(True)  # the user ticks "Side by side"
    assert ctl.conversation.compare and win.chat.default_view.isVisible()
    seen = ask(qtbot, win, "the bridge")
    assert {e.run for e in seen if not e.is_prompt} == {"steered", "default"}
    assert ctl.conversation.last_answer("default") == plain  # default run = unsteered, same seed
    assert ctl.conversation.last_answer() != plain
    assert_steered_towards(ctl, answer_events(ctl, "steered"), answer_events(ctl, "default"))  # towards feature 4
    assert ctl.conversation.last_answer() in win.chat.main_view.toPlainText()
    assert plain in win.chat.default_view.toPlainText()
    assert {r for r, _ in win.strip.curves} == {"steered", "default"}


# --- presets -------------------------------------------------------------------------------------------------
def _set_state(ctl):
    ctl.steering.set_steering(
        SteeringConfig(
            (SteerSpec(3, 4.5, "max", "clamp", True, "three"), SteerSpec(17, -2.0, "max", "add", False, "seventeen")),
            multiplier=0.75,
            skip_special=False,
        )
    )
    ctl.conversation.set_sampling(SamplingConfig(temperature=0.9, top_p=0.8, frequency_penalty=0.3, seed=99,
                                                 max_new_tokens=33))
    ctl.conversation.set_system("Answer like a pirate.")


def _state(ctl):
    return ctl.steering.config, ctl.conversation.sampling, ctl.conversation.system


def test_preset_save_load_round_trip_restores_everything(make_window, tiny_sae_dir, qtbot):
    win = make_window(make_tiny_loader(tiny_sae_dir))
    ctl = win.controller
    _set_state(ctl)
    before = _state(ctl)
    path = ctl.presets.save("Pirate mode")
    assert path is not None and path.exists()
    ctl.steering.clear()
    ctl.steering.set_multiplier(2.0)
    _sampling(win)
    win.chat.system.setText("")
    assert _state(ctl) != before and ctl.conversation.system == ""
    assert ctl.presets.load(path)
    assert _state(ctl) == before
    assert [r.feature for r in win.steering.rows] == [3, 17] and not win.steering.rows[1].enabled.isChecked()
    assert win.chat.system.text() == "Answer like a pirate." and win.chat.sampling.max_tokens.value() == 33
    assert ctl.presets.store.recent()[0] == path.resolve()


@pytest.mark.parametrize("kind", ["corrupt", "other_sae", "unknown_feature", "bad_value"])
def test_bad_preset_shows_an_error_and_changes_nothing(make_window, tiny_sae_dir, qtbot, tmp_path, kind):
    win = make_window(make_tiny_loader(tiny_sae_dir))
    ctl = win.controller
    _set_state(ctl)
    good = ctl.presets.save("good")
    before = _state(ctl)
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
    assert not ctl.presets.load(bad)
    assert _state(ctl) == before
    expected = {
        "corrupt": "not valid JSON",
        "other_sae": "another SAE",
        "unknown_feature": "999999",
        "bad_value": "strength",
    }[kind]
    assert expected in ctl.notices.last_error
    boxes = [b for b in win.findChildren(QMessageBox) if b.isVisible()]
    assert boxes and expected in boxes[-1].text()


# --- another SAE, long jobs --------------------------------------------------------------------------------------
def test_a_second_sae_loads_into_the_running_window_and_steers(make_window, tiny_sae_dir, qtbot, tmp_path):
    win = make_window(make_tiny_loader(tiny_sae_dir))
    ctl = win.controller
    ctl.steering.steer(200, 3.0)
    _sampling(win, max_new_tokens=10, temperature=0.0)
    ask(qtbot, win, "the bridge")
    other = tiny.save_tiny_sae(tmp_path / "second-sae", d_sae=128, seed=5)
    ctl.model.load_sae(str(other))
    qtbot.waitUntil(lambda: ctl.model.info.d_sae == 128, timeout=20_000)
    assert "128" in win.status.sae.text() and win.features.model.rowCount() == 128
    assert win.steering.rows == [] and ctl.conversation.turns  # steering starts afresh; the conversation stays
    ctl.conversation.regenerate()
    qtbot.waitUntil(lambda: not ctl.conversation.busy, timeout=20_000)
    plain, plain_events = ctl.conversation.last_answer(), answer_events(ctl)
    ctl.steering.steer(100, 40.0)
    assert win.steering.row(100) is not None
    ctl.conversation.regenerate()
    qtbot.waitUntil(lambda: not ctl.conversation.busy, timeout=20_000)
    assert ctl.conversation.last_answer() != plain
    assert_steered_towards(ctl, answer_events(ctl), plain_events)  # the second SAE's feature 100, its way
    wrong = tiny.save_tiny_sae(tmp_path / "wrong-width", d_in=32)
    ctl.model.load_sae(str(wrong))
    qtbot.waitUntil(lambda: not ctl.jobs.outstanding, timeout=20_000)
    assert ctl.model.info.d_sae == 128 and "d_in=32" in ctl.notices.last_error  # refused; the second SAE stays


def test_a_long_job_shows_progress_and_cancels_mid_way(make_window, tiny_sae_dir, qtbot):
    import time

    win = make_window(make_tiny_loader(tiny_sae_dir))
    ctl = win.controller
    progress, partials, ends = [], [], []

    def train(session, state):
        for step in range(100_000):
            if state.cancelled():
                return step
            state.progress(step / 100_000, f"step {step}")
            if step % 10 == 0:
                state.partial({"step": step, "loss": 1.0 / (1 + step)})
            time.sleep(0.001)

    job = ctl.jobs.submit(JobKind.TRAIN_SAE, train, on_progress=lambda f, m: progress.append(f),
                          on_partial=partials.append, on_cancelled=lambda r: ends.append(("cancelled", r)),
                          on_done=lambda r: ends.append(("done", r)))
    qtbot.waitUntil(lambda: len(partials) >= 5, timeout=10_000)
    assert win.worker.pump.timer.isActive() and ctl.jobs.outstanding
    job.cancel()
    qtbot.waitUntil(lambda: bool(ends), timeout=2000)
    assert ends[0][0] == "cancelled" and 0 < ends[0][1] < 100_000
    fractions = progress
    assert fractions == sorted(fractions) and 0 < fractions[-1] < 1
    qtbot.waitUntil(lambda: not win.worker.pump.timer.isActive(), timeout=1000)
    ctl.conversation.send("still works")
    qtbot.waitUntil(lambda: not ctl.conversation.busy, timeout=10_000)
    assert ctl.conversation.turns[-1].role == "assistant"
