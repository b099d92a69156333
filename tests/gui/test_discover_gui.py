"""The finders in the running window (tiny model, offscreen): the contrastive finder from the Tools menu (find,
steer a feature, steer with the difference vector, inspect, pin, save the vector) and "Features on this selection"
from the chat's context menu."""

import numpy as np
import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtGui import QTextCursor
from PySide6.QtWidgets import QApplication

from conftest import ask, make_tiny_loader, set_sampling
from desktop_sae.app.contrast_examples import EXAMPLES
from desktop_sae.app.discover import default_vector_path
from desktop_sae.core.features.readout import features_on_span
from desktop_sae.core.steering.vectors import load_vector
from steer_direction import answer_events, assert_steered_towards

pytestmark = pytest.mark.gui


def _back_to_chat(qtbot, win, dialog):
    """Close ``dialog`` and click back into the main window (keyboard shortcuts go to the active window)."""
    dialog.close()
    win.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is win, timeout=5000)


def _find(qtbot, win, pos, neg):
    win.menu_actions.contrast.trigger()
    finder = win.finders.contrast_finder
    assert finder.isVisible()
    finder.positives.setPlainText("\n".join(pos[:-1]))
    finder.positives.moveCursor(QTextCursor.End)
    qtbot.keyClick(finder.positives, Qt.Key_Return)
    qtbot.keyClicks(finder.positives, pos[-1])  # typed like a user
    finder.negatives.setPlainText("\n".join(neg))
    assert finder.counts[0].text() == f"{len(pos)} texts"
    qtbot.mouseClick(finder.find_btn, Qt.LeftButton)
    assert finder.stop_btn.isEnabled() and not finder.find_btn.isEnabled()
    qtbot.waitUntil(lambda: finder.contrast is not None, timeout=60_000)
    return finder


def test_the_finder_finds_features_and_steers_with_a_row_and_with_the_vector(make_window, tiny_sae_dir, qtbot):
    win = make_window(make_tiny_loader(tiny_sae_dir))
    ctl = win.controller
    set_sampling(win, max_new_tokens=16, temperature=0.0)
    ask(qtbot, win, "tell me about bridges")
    base, base_events = ctl.conversation.last_answer(), answer_events(ctl)
    ctl.conversation.clear()
    pos, neg = EXAMPLES["Bridges vs other structures"]
    finder = _find(qtbot, win, pos, neg)
    hits = finder.contrast.hits
    assert hits and finder.table.rowCount() == len(hits)
    assert finder.table.item(0, 0).text() == f"#{hits[0].feature}"
    assert "‖" in finder.vec_label.text() and finder.vec_steer.isEnabled()
    # the difference vector: a steering row under a negative key, and the next answer changes
    qtbot.mouseClick(finder.vec_steer, Qt.LeftButton)
    (spec,) = ctl.steering.config.features
    assert spec.feature < 0 and spec.vector == finder.contrast.vector.values and spec.strength > 0
    assert win.docks["steering"].isVisible()
    _back_to_chat(qtbot, win, finder)
    ask(qtbot, win, "tell me about bridges")
    assert ctl.conversation.last_answer() != base
    assert_steered_towards(ctl, answer_events(ctl), base_events)  # along the bridges-minus-others vector
    win.features.refresh()  # the feature list, the dashboard and the strip chart ignore the vector row
    ctl.features.select(spec.feature)
    assert ctl.conversation.watched() == () and ctl.features.selected is None and win.detail.feature is None
    # a feature row: Steer adds it at 3x max activation, Inspect selects it, Pin pins it
    f = hits[0].feature
    assert win.finders.open_contrast_finder() is finder and finder.contrast.hits == hits  # reopened with its results
    qtbot.mouseClick(finder.table.button(0, "Steer"), Qt.LeftButton)
    assert [s.feature for s in ctl.steering.config.features] == [spec.feature, f]
    assert ctl.steering.config.features[1].strength == 3.0 and ctl.steering.config.features[1].unit == "max"
    assert finder.set_steer.isEnabled()  # the top features as one weighted set, in one change
    qtbot.mouseClick(finder.set_steer, Qt.LeftButton)
    assert finder.contrast.set_features[0] == f  # the set leads with the top hit, whose row it replaces
    assert [s.feature for s in ctl.steering.config.features] == [spec.feature, *finder.contrast.set_features]
    assert "Steering with the set" in finder.status.text()
    qtbot.mouseClick(finder.table.button(1, "Inspect"), Qt.LeftButton)
    g = hits[1].feature
    assert ctl.features.selected == g and win.features.current_feature() == g and win.detail.feature == g
    qtbot.mouseClick(finder.table.button(0, "Pin"), Qt.LeftButton)
    assert ctl.features.pinned == (f,) and finder.table.button(0, "Pin").isChecked()
    _back_to_chat(qtbot, win, finder)
    ask(qtbot, win, "and more")  # pinned + steered feature and a vector row: the answer streams as usual
    assert ctl.conversation.turns[-1].role == "assistant"
    # saving the vector into the vectors folder
    path = finder.save_vector_to(default_vector_path(finder.contrast.vector))
    assert path.parent.name == "vectors" and np.allclose(load_vector(path).values, spec.vector, atol=1e-4)


def test_the_finder_refuses_empty_input_and_stops(make_window, tiny_sae_dir, qtbot):
    win = make_window(make_tiny_loader(tiny_sae_dir))
    finder = win.finders.open_contrast_finder()
    finder.positives.setPlainText("a bridge")
    qtbot.mouseClick(finder.find_btn, Qt.LeftButton)
    assert "at least one positive and one negative" in finder.status.text() and not finder.run.running
    finder.example.setCurrentIndex(2)
    finder.example.activated.emit(2)
    assert finder.positives.toPlainText().startswith("def add")
    finder.positives.setPlainText("\n".join(["def f(x): return x"] * 400))
    qtbot.mouseClick(finder.find_btn, Qt.LeftButton)
    qtbot.waitUntil(lambda: finder.progress.value() > 0, timeout=20_000)
    qtbot.mouseClick(finder.stop_btn, Qt.LeftButton)
    qtbot.waitUntil(lambda: not finder.run.running, timeout=20_000)
    assert finder.status.text() == "Stopped." and finder.contrast is None and finder.find_btn.isEnabled()


def _select_tokens(view, first, last):
    """Select from the start of token anchor ``first`` to the end of ``last`` (a mouse drag)."""
    doc, spans = view.document(), {}
    block = doc.begin()
    while block.isValid():
        it = block.begin()
        while not it.atEnd():
            fr = it.fragment()
            spans.setdefault(fr.charFormat().anchorHref(), (fr.position(), fr.position() + fr.length()))
            it += 1
        block = block.next()
    cur = view.textCursor()
    cur.setPosition(spans[first][0])
    cur.setPosition(spans[last][1], QTextCursor.KeepAnchor)
    view.setTextCursor(cur)


def test_features_on_a_chat_selection_match_the_direct_computation(make_window, tiny_sae_dir, qtbot):
    win = make_window(make_tiny_loader(tiny_sae_dir))
    ctl = win.controller
    set_sampling(win, max_new_tokens=14)
    ask(qtbot, win, "hello there")
    evs = [e for e in ctl.conversation.turns[-1].events["main"] if e.delta]
    a, b = evs[2], evs[5]
    _select_tokens(win.chat.main_view, f"tok:main:{a.index}", f"tok:main:{b.index}")
    menu = win.chat.main_view.context_menu(QPoint(5, 5))
    act = next(x for x in menu.actions() if x.text() == "Features on this selection")
    assert act.isEnabled()
    act.trigger()
    popup = win.finders.selection_features
    assert popup.isVisible()
    qtbot.waitUntil(lambda: popup.text_features is not None, timeout=30_000)
    s = win.controller.runner.session
    conv = ctl.conversation
    ids = s.prompt_ids(conv.messages()[:1]) + [e.token_id for e in conv.turns[-1].events["main"]]
    want = features_on_span(s, ids, a.index, b.index + 1)
    assert popup.text_features == want and popup.table.rowCount() == len(want.features) > 0
    assert popup.table.item(0, 0).text() == f"#{want.features[0].feature}"
    qtbot.mouseClick(popup.table.button(0, "Steer"), Qt.LeftButton)
    assert ctl.steering.config.features[0].feature == want.features[0].feature
    # a selection in the user's message (no answer tokens) is read as plain text
    view = win.chat.main_view
    cur = view.document().find("hello there")
    view.setTextCursor(cur)
    win.chat.main_view.context_menu(QPoint(5, 5)).actions()[-1].trigger()
    qtbot.waitUntil(lambda: popup.text_features is not None, timeout=30_000)
    assert "plain text" in popup.note.text() and popup.text_features.tokens
