"""Lessons in the window: steps show their panels, outline a widget, ask the model, switch side by side, and the
end of the lesson gives the user's layout and settings back (tiny model; the shipped lessons on the real model
run in the integration test of the lesson command)."""

import json

import pytest
from PySide6.QtCore import Qt

from conftest import make_tiny_loader

pytestmark = pytest.mark.gui

LESSON = {
    "schema": 1,
    "id": "tiny-tour",
    "title": "A tiny tour",
    "summary": "Four steps on the tiny model.",
    "level": "beginner",
    "est_minutes": 2,
    "steps": [
        {"title": "Hello", "narration": "<p>Welcome.</p>", "panels": ["chat"], "highlight": "chat_input"},
        {
            "title": "Ask",
            "narration": "<p>Press <b>Run</b>.</p>",
            "prompt": "the quick brown fox",
            "action": "run",
            "panels": ["chat", "plot"],
            "highlight": "send_button",
            "sampling": {"temperature": 0, "max_new_tokens": 6},
        },
        {
            "title": "Both",
            "narration": "<p>Side by side.</p>",
            "prompt": "hello there",
            "action": "compare",
            "panels": ["chat", "steering"],
            "steer": [{"concept": "golden_gate"}],
        },
        {"title": "Done", "narration": "<p>The end.</p>", "panels": ["chat", "features"]},
    ],
}


def test_a_lesson_drives_the_window_and_gives_everything_back(make_window, tiny_sae_dir, qtbot, tmp_path):
    path = tmp_path / "tiny-tour.json"
    path.write_text(json.dumps(LESSON))
    win = make_window(make_tiny_loader(tiny_sae_dir))
    ctl = win.controller
    ctl.steering.steer(7, 1.5)
    before = (ctl.steering.config, ctl.conversation.sampling, ctl.conversation.compare)
    layout = {k: d.isVisible() for k, d in win.docks.items()}
    assert win.lessons.start(str(path))
    panel = win.lessons.panel
    assert "Welcome" in panel.narration.toPlainText() and panel.progress.value() == 1
    assert win.docks["lesson"].isVisible() and not win.docks["features"].isVisible()
    assert win.lessons.highlighter.isVisible() and win.lessons.highlighter.target is win.chat.input
    qtbot.keyClick(win, Qt.Key_PageDown)  # a presentation clicker's "next"
    assert panel.progress.value() == 2 and ctl.conversation.sampling.temperature == 0
    assert win.docks["strip"].isVisible() and win.lessons.highlighter.target is win.chat.send_btn
    qtbot.waitUntil(lambda: not ctl.conversation.busy and bool(ctl.conversation.turns), timeout=20_000)
    assert [t.role for t in ctl.conversation.turns] == ["user", "assistant"]
    assert ctl.conversation.turns[0].content == "the quick brown fox"
    panel.next_btn.click()
    assert ctl.conversation.compare and win.chat.default_view.isVisible()
    # demo concepts belong to the bundled SAE: on another SAE the step says so and the lesson goes on
    assert "bundled SAE" in ctl.notices.last_error
    qtbot.waitUntil(lambda: not ctl.conversation.busy and bool(ctl.conversation.last_answer("default")), timeout=20_000)
    panel.back_btn.click()
    assert panel.progress.value() == 2 and not ctl.conversation.compare
    qtbot.waitUntil(lambda: not ctl.conversation.busy, timeout=20_000)
    panel.next_btn.click()
    qtbot.waitUntil(lambda: not ctl.conversation.busy, timeout=20_000)
    panel.next_btn.click()
    assert panel.next_btn.text().startswith("Finish")
    panel.next_btn.click()  # Finish
    assert win.lessons.runner is None and not win.docks["lesson"].isVisible()
    assert (ctl.steering.config, ctl.conversation.sampling, ctl.conversation.compare) == before
    assert {k: d.isVisible() for k, d in win.docks.items() if k in layout} == layout
    assert not win.lessons.highlighter.isVisible()


def test_a_malformed_lesson_is_refused_with_its_step_and_field(make_window, tiny_sae_dir, tmp_path):
    bad = json.loads(json.dumps(LESSON))
    bad["steps"][1]["action"] = "fly"
    path = tmp_path / "tiny-tour.json"
    path.write_text(json.dumps(bad))
    win = make_window(make_tiny_loader(tiny_sae_dir))
    assert not win.lessons.start(str(path))
    err = win.controller.notices.last_error
    assert "step 2" in err and "'Ask'" in err and "action" in err and "fly" in err
    assert win.lessons.runner is None


def _quiz_pool(folder, units):
    """A measured quiz pool beside a copy of the tiny SAE: (concept, label, kind, features) per unit."""
    from desktop_sae.core.classroom.quiz_pool import QuizUnit, UnitKind, write_pool

    write_pool(folder, [QuizUnit(c, label, UnitKind(kind), tuple(fs), (1.0,) + (0.5,) * (len(fs) - 1), 2.0, "max",
                                 "add", 0.75, 0.0) for c, label, kind, fs in units], "test")


def test_the_mystery_quiz_hides_measured_steering_offers_explanations_and_reveals_it(make_window, tiny_sae_dir,
                                                                                       tmp_path, qtbot):
    import shutil

    sae = shutil.copytree(tiny_sae_dir, tmp_path / "sae")
    _quiz_pool(sae, [("a", "bridges", "set", [3, 4]), ("b", "", "feature", [5]), ("c", "", "feature", [8]),
                     ("d", "", "feature", [13]), ("e", "", "feature", [21])])
    win = make_window(make_tiny_loader(sae))
    ctl, quiz = win.controller, win.quiz_panel
    for f, name in ((5, "five"), (8, "eight"), (13, "thirteen"), (21, "twenty-one")):
        ctl.features.set_label(f, name)  # a single feature is offered by its name (explanation or the user's label)
    ctl.steering.steer(2, 1.0)
    before = ctl.steering.config
    assert quiz.start(rounds=2, seed=1)
    r = quiz.run.round
    assert {label for _, label in quiz.run.quiz.pool} == {"bridges", "five", "eight", "thirteen", "twenty-one"}
    rows = ctl.steering.config.features
    assert {s.label for s in rows} == {"mystery feature"}
    assert [s.feature for s in rows] == ([3, 4] if r.hidden == 3 else [r.hidden])  # a set steers as a whole
    qtbot.waitUntil(lambda: not ctl.conversation.busy and bool(ctl.conversation.turns), timeout=20_000)
    assert {b.text() for b in quiz.choice_btns} == {label for _, label in r.choices}
    quiz.choice_btns[r.correct].click()
    assert "Right" in quiz.feedback.text() and ctl.features.selected == r.hidden and "1 of 1" in quiz.score_lbl.text()
    quiz.next_btn.click()
    r2 = quiz.run.round
    qtbot.waitUntil(lambda: not ctl.conversation.busy, timeout=20_000)
    quiz.choice_btns[(r2.correct + 1) % 4].click()
    assert "Not quite" in quiz.feedback.text() and "1 of 2" in quiz.score_lbl.text()
    quiz.next_btn.click()  # Finish
    assert "1 of 2" in quiz.question.text() and ctl.steering.config == before


def test_the_quiz_refuses_an_sae_without_a_measured_pool(make_window, tiny_sae_dir):
    win = make_window(make_tiny_loader(tiny_sae_dir))
    assert not win.quiz_panel.start(rounds=2)
    ctl = win.controller
    assert "no measured quiz pool" in ctl.notices.last_error and ctl.steering.config.features == ()


def _play(win, qtbot, timeout=120_000):
    """Click Next through the whole lesson (no typing), waiting for each step's work; returns the step titles."""
    ctl, panel, titles = win.controller, win.lessons.panel, []
    while True:
        qtbot.waitUntil(lambda: not ctl.jobs.outstanding and not ctl.conversation.busy, timeout=timeout)
        titles.append(win.lessons.runner.step.title)
        assert panel.narration.toPlainText().strip()
        if panel.next_btn.text().startswith("Finish"):
            panel.next_btn.click()
            return titles
        panel.next_btn.click()


def test_every_shipped_lesson_runs_end_to_end(make_window, tiny_sae_dir, qtbot):
    """All four lessons on the tiny model: every step's action runs (toy training, quiz, neuron view, chat)."""
    from desktop_sae.core.classroom.lessons import list_lessons

    win = make_window(make_tiny_loader(tiny_sae_dir))
    win.toy_lab.slow_motion.setChecked(False)  # fast in tests; a class watches it slowly
    for info in list_lessons():
        assert win.lessons.start(info.id), win.controller.notices.last_error
        titles = _play(win, qtbot)
        assert len(titles) == info.steps and win.lessons.runner is None
    assert win.toy_lab.toy_geometry is not None  # the superposition lesson trained the toy model


@pytest.mark.integration
def test_every_shipped_lesson_in_presentation_mode_with_the_real_model(make_window, real_sae_dir, qtbot):
    from desktop_sae.app.loading import LoadRequest
    from desktop_sae.core.classroom.lessons import list_lessons

    win = make_window(load=LoadRequest(sae=str(real_sae_dir)))
    win.views.set_presentation(True)
    errors = []
    win.controller.notices.error.connect(lambda title, msg: errors.append(f"{title}: {msg}"))
    for info in list_lessons():
        assert win.lessons.start(info.id)
        _play(win, qtbot, timeout=300_000)
        assert errors == [], (info.id, errors)  # the demo concepts apply to the bundled SAE
    win.views.set_presentation(False)
