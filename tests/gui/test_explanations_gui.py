"""Feature explanations on every surface of the running window (tiny model, offscreen): the feature list (name
column, search, tooltip), the dashboard (title, provenance, blind scores, the user's label marked and cleared),
the token hover, steering rows, the sweep's target, the contrast finder, the quiz, the session report, a lesson's
steering rows and the neuron view; a damaged explanations file leaves token labels and a warning."""

import html
import json

import pytest
from PySide6.QtCore import Qt

from conftest import ask, make_tiny_loader, set_sampling
from desktop_sae.app.contrast_examples import EXAMPLES
from desktop_sae.core.explanations import protocol
from desktop_sae.core.explanations.store import EXPLANATIONS
from desktop_sae.core.features.naming import DEMO_MARK, USER_MARK, LabelSource
from explained import LONG, explained_copy

pytestmark = pytest.mark.gui


@pytest.fixture
def explained_sae(tiny_sae_dir, tmp_path):
    return explained_copy(tiny_sae_dir, tmp_path / "explained-sae")


def test_the_feature_list_and_dashboard_show_explanations_and_the_users_label_overrides(
        make_window, explained_sae, qtbot):
    win = make_window(make_tiny_loader(explained_sae))
    ctl, fp, m = win.controller, win.features, win.features.model
    assert m.data(m.index(list(m.rows).index(7), 2)) == "topic 7 words"  # what the list shows
    fp.search.setText("towers cables fog")  # explanation words
    assert list(m.rows) == [42]
    cell, tip = m.data(m.index(0, 2)), m.data(m.index(0, 2), Qt.ItemDataRole.ToolTipRole)
    assert cell == LONG and LONG in tip and "(explanation)" in tip
    # the list elides a long explanation instead of wrapping or widening
    assert not fp.table.wordWrap() and fp.table.textElideMode() == Qt.TextElideMode.ElideRight
    fp.select(42)
    d = win.detail
    assert LONG in d.title.text() and USER_MARK not in d.title.text()
    about = d.about.text()
    assert "explanation by llm · test-llm · " + protocol.PROTOCOL_VERSION + " · 2026-12-05" in about
    assert "blind scores: detection 0.85 (" in about and "fuzzing 0.80 (" in about
    ctl.features.select(7)
    assert "topic 7 words" in d.title.text() and "blind scores: not scored" in d.about.text()
    # the user's own label overrides, is saved as today and is marked as the user's
    d.label_edit.setText("my bridge feature")
    qtbot.keyClick(d.label_edit, Qt.Key_Return)
    assert json.loads((explained_sae / "labels.user.json").read_text()) == {"7": "my bridge feature"}
    assert ctl.model.catalog.label_source(7) is LabelSource.USER
    assert f"my bridge feature  {USER_MARK}" in d.title.text() and "your label" in d.about.text()
    assert "topic 7 words" in d.about.text()  # the explanation it hides is still shown
    fp.search.setText("my bridge")
    assert list(m.rows) == [7] and m.data(m.index(0, 2)) == f"{USER_MARK} my bridge feature"
    assert "(your label)" in m.data(m.index(0, 2), Qt.ItemDataRole.ToolTipRole)
    fp.search.setText("topic 7 words")  # the hidden explanation stays searchable (words match inside words)
    assert 7 in list(m.rows) and 8 not in list(m.rows)
    d.label_edit.setText("")  # clearing brings the explanation back
    qtbot.keyClick(d.label_edit, Qt.Key_Return)
    assert json.loads((explained_sae / "labels.user.json").read_text()) == {}
    assert "topic 7 words" in d.title.text() and USER_MARK not in d.title.text()
    assert d.label_edit.text() == "topic 7 words"


def test_token_hover_steering_rows_sweep_report_and_neuron_view_name_features_by_explanation(
        make_window, explained_sae, qtbot, tmp_path):
    from test_neuron_view import FOLDER

    from desktop_sae.gui.neuron_view import NeuronView

    win = make_window(make_tiny_loader(explained_sae))
    ctl = win.controller
    set_sampling(win, max_new_tokens=6, temperature=0.0)
    ctl.steering.steer(42, 1.0)
    ask(qtbot, win, "the bridge")
    # the hover on a token: its strongest features by their explanations
    ev = next(e for e in ctl.conversation.turns[-1].events["main"] if e.top_ids is not None and not e.is_special)
    text = win.chat.tooltip_for(ev)
    for i, v in zip(ev.top_ids[:8], ev.top_vals[:8]):
        if v > 0:
            name = LONG[:60] if int(i) == 42 else f"topic {int(i)} words"
            assert f"#{int(i)}  {float(v):.2f}  {name}" in text
    # the steering row: the explanation, cut in the narrow row, whole in its tooltip
    row = win.steering.row(42)
    assert row.name.full == f"#42  {LONG}" and LONG in row.name.toolTip()
    shown = row.name.text()
    assert shown.startswith("#42  mentions") and shown.endswith("…") and len(shown) < len(row.name.full)
    assert row.name.fontMetrics().horizontalAdvance(shown) <= row.name.width()
    # the sweep's target: the same
    row.sweep_btn.click()
    panel = win._boxes[-1].panel
    i = panel.target.currentIndex()
    assert panel.target.currentData().feature == 42 and LONG[:30] in panel.target.itemText(i)
    assert "…" in panel.target.itemText(i) and LONG in panel.target.itemData(i, Qt.ItemDataRole.ToolTipRole)
    win._boxes[-1].close()
    # the session report: the dashboard of a viewed feature with its explanation, provenance and scores
    ctl.features.select(42)
    html_path, _csv = win.files.export_report(tmp_path / "session")
    report = html_path.read_text()
    assert f"#42 {html.escape(LONG)}" in report and "explanation by llm · test-llm" in report
    assert "blind scores: detection 0.85" in report
    # the neuron view computed on the loaded model names the SAE features that fire by their explanations
    view = NeuronView(ctl, data_folder=FOLDER)
    qtbot.addWidget(view)
    view.show_neuron(5)
    qtbot.waitUntil(lambda: not view.busy, timeout=120_000)
    feats = view.shown["features"]
    assert feats and all(f["label"] == (LONG if f["feature"] == 42 else f"topic {f['feature']} words") for f in feats)
    assert f"topic {feats[0]['feature']} words" in view.features.toPlainText() or LONG in view.features.toPlainText()


def test_contrast_finder_quiz_and_lesson_rows_show_explanations(make_window, explained_sae, qtbot, tmp_path):
    from desktop_sae.app.lesson_runner import LessonRunner
    from desktop_sae.core.classroom.lessons import parse_lesson
    from desktop_sae.core.presets.demo_concepts import DemoConcept

    win = make_window(make_tiny_loader(explained_sae))
    ctl = win.controller
    set_sampling(win, max_new_tokens=4, temperature=0.0)
    # the contrast finder's name column
    win.menu_actions.contrast.trigger()
    finder = win.finders.contrast_finder
    pos, neg = EXAMPLES["Bridges vs other structures"]
    finder.positives.setPlainText("\n".join(pos))
    finder.negatives.setPlainText("\n".join(neg))
    finder.find_btn.click()
    qtbot.waitUntil(lambda: finder.contrast is not None, timeout=60_000)
    hits = finder.contrast.hits
    assert hits
    last = finder.table.columnCount() - 2  # the name, before the buttons
    for r, h in enumerate(hits[:5]):
        assert finder.table.item(r, last).text() == (LONG if h.feature == 42 else f"topic {h.feature} words")
    finder.close()
    # quiz choices are explanations (a measured pool of single features beside the SAE)
    from desktop_sae.core.classroom.quiz_pool import QuizUnit, UnitKind, write_pool

    write_pool(explained_sae, [QuizUnit(f"c{f}", "", UnitKind.FEATURE, (f,), (1.0,), 2.0, "max", "add", 0.75, 0.0)
                               for f in (3, 7, 11, 42)], "test")
    quiz = win.quiz_panel
    assert quiz.start(rounds=1, seed=1)
    r = quiz.run.round
    assert all(label == f"topic {f} words" or label == LONG for f, label in r.choices)
    assert {b.toolTip() for b in quiz.choice_btns} == {label for _, label in r.choices}
    qtbot.waitUntil(lambda: not ctl.conversation.busy, timeout=20_000)
    quiz.end()
    # a lesson's steering rows go by the features' names
    f = tmp_path / "t.json"
    f.write_text(json.dumps({"schema": 1, "id": "t", "title": "T", "summary": "s", "level": "beginner",
                             "est_minutes": 1, "steps": [{"title": "Steer", "narration": "<p>steer</p>",
                                                          "steer": [{"concept": "bridge", "strength": 2.0}]}]}))
    lesson = parse_lesson(f.read_bytes(), f.name, concepts={"bridge"}, presets=())
    demo = {"bridge": DemoConcept("bridge", 42, "Bridges", 2.0, "max", "add", ((42, 1.0), (9, 0.5)))}
    runner = LessonRunner(ctl, lesson, demo=demo)
    runner.start()
    qtbot.waitUntil(lambda: not ctl.conversation.busy, timeout=20_000)
    assert [s.label for s in ctl.steering.config.features] == [LONG, "topic 9 words"]
    assert "topic 9 words" in win.steering.row(9).name.text()
    runner.stop()


def test_a_damaged_explanations_file_is_reported_and_token_labels_stay(make_window, tiny_sae_dir, tmp_path):
    folder = explained_copy(tiny_sae_dir, tmp_path / "damaged-sae")
    (folder / EXPLANATIONS).write_text(json.dumps({"format": "desktop-sae-explanations", "version": 99}))
    win = make_window(make_tiny_loader(folder))
    ctl = win.controller
    assert ctl.model.catalog.explanations == {} and ctl.model.catalog.label_source(42) is LabelSource.TOKENS
    assert "explanations not shown" in ctl.notices.status and "version 99" in ctl.notices.status
    assert ctl.model.catalog.explanations == {} and ctl.model.info.explained.scores  # the scores file still read


def test_a_demo_set_member_shows_its_tag_beside_its_name_and_is_found_by_it(make_window, explained_sae, monkeypatch):
    from desktop_sae.core.presets import demo_concepts

    monkeypatch.setattr(demo_concepts, "demo_feature_sets", lambda path: {42: ("Golden Gate Bridge",)})  # as bundled
    win = make_window(make_tiny_loader(explained_sae))
    ctl, fp, m = win.controller, win.features, win.features.model
    assert ctl.model.catalog.label(42) == LONG  # the tag is not the name
    fp.search.setText("golden gate")
    assert list(m.rows) == [42]
    assert m.data(m.index(0, 2)) == f"{DEMO_MARK} {LONG}   [demo set: Golden Gate Bridge]"
    assert "demo set: Golden Gate Bridge" in m.data(m.index(0, 2), Qt.ItemDataRole.ToolTipRole)
    fp.select(42)
    assert "demo set: Golden Gate Bridge" in win.detail.about.text() and "demo" not in win.detail.title.text()
    ctl.steering.steer(42, 1.0)
    assert "demo set: Golden Gate Bridge" in win.steering.row(42).name.toolTip()
