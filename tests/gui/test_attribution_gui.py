""""Why this token?" in the window, on the tiny model with SAEs at two depths (the loaded one at blocks.1 with a
feature dictionary, a depth SAE at blocks.0 beside it): right-click an answer token → the graph view shows that
token's graph; hover and click nodes (a loaded-SAE feature opens its dashboard); Ablate and Steer to show the
predicted and actual change (the actual as ``set_activations`` gives it); an alternative token recomputes the
graph as a logit difference; Stop mid-graph leaves the app usable; Export JSON and Export PNG."""

import json
import shutil
import time

import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtGui import QImage, QTextCursor

import tiny
from conftest import ask, set_sampling
from desktop_sae.core.attribution.attributor import Attributor
from desktop_sae.core.attribution.graph import NodeKind
from desktop_sae.core.attribution.graph_json import from_json
from desktop_sae.core.attribution.interventions import set_activations
from desktop_sae.core.features.user_labels import sae_folder
from desktop_sae.core.sae.formats import save_sae
from desktop_sae.gui.graph_scene import NodeItem


@pytest.fixture
def depth_sae(tiny_sae_with_dictionary, tmp_path):
    """The tiny SAE with its dictionary (blocks.1) and a depth SAE at blocks.0 in ``<folder>-depths/L00``."""
    folder = shutil.copytree(tiny_sae_with_dictionary, tmp_path / "sae")
    save_sae(tiny.with_stats(tiny.random_sae(hook="blocks.0.hook_resid_post", seed=3)),
             tmp_path / "sae-depths" / "L00")
    return folder


@pytest.fixture
def answered(make_window, depth_sae, qtbot):
    """A window with one answer; returns (window, the answer's GenerationResult)."""
    win = make_window(tiny.make_loader(depth_sae))
    set_sampling(win, max_new_tokens=6)
    results = []
    win.controller.conversation.answer_finished.connect(lambda _t, res: results.append(res))
    ask(qtbot, win, "hello world")
    return win, results[-1]


def token_anchors(view):
    """(href, document position) of every token anchor in a transcript."""
    out, block = [], view.document().begin()
    while block.isValid():
        it = block.begin()
        while not it.atEnd():
            frag = it.fragment()
            if frag.charFormat().isAnchor() and frag.charFormat().anchorHref().startswith("tok:"):
                out.append((frag.charFormat().anchorHref(), frag.position()))
            it += 1
        block = block.next()
    return out


def anchor_point(win, doc_pos):
    """A point inside the token that starts at ``doc_pos`` (viewport coordinates)."""
    cur = QTextCursor(win.chat.main_view.document())
    cur.setPosition(doc_pos)
    rect = win.chat.main_view.cursorRect(cur)
    return QPoint(rect.right() + 2, rect.center().y())


def right_click_why(win, href_pos):
    """The transcript's context menu at a token, as a right-click opens it; triggers "Why this token?"."""
    view = win.chat.main_view
    pos = anchor_point(win, href_pos[1])
    assert view.anchorAt(pos) == href_pos[0]
    menu = view.context_menu(pos)
    why = [a for a in menu.actions() if a.text() == "Why this token?"]
    assert len(why) == 1
    why[0].trigger()


def wait_graph(qtbot, view):
    qtbot.waitUntil(lambda: not view.run.running, timeout=120_000)
    assert view.run.error is None, view.run.error


def worker_state(win, graph):
    """The same graph computed here, on the worker's (idle) session, with its state for interventions."""
    session = win.controller.runner.session
    att = Attributor.for_model(session.lm, session.sae, sae_folder(session.sae.source_path))
    return att.graph(graph.token_ids, graph.target_id, graph.alt_id)


def click_node(qtbot, view, index):
    item = view.scene.items_by_index[index]
    view.canvas.centerOn(item)
    qtbot.mouseClick(view.canvas.viewport(), Qt.LeftButton, pos=view.canvas.mapFromScene(item.scenePos()))


def test_why_this_token_from_the_chat_hover_click_ablate_and_steer(answered, qtbot):
    win, res = answered
    anchors = token_anchors(win.chat.main_view)
    assert len(anchors) >= 2
    href, pos = anchors[1]
    index = int(href.split(":")[2])
    right_click_why(win, (href, pos))
    view = win.graph_view
    assert view is not None and view.isVisible()
    wait_graph(qtbot, view)
    g = view.run.shown.graph
    k = index - len(res.prompt_ids)
    assert g.token_ids == (*res.prompt_ids, *res.answer_ids[:k]) and g.target_id == res.answer_ids[k]
    assert g.depths == (0, 1) and view.run.shown.loaded_layer == 1
    items = [i for i in view.scene.items() if isinstance(i, NodeItem)]
    assert len(items) == len(g.nodes)
    assert sum(i.node.kind is NodeKind.TOKEN for i in items) == len(g.token_ids)
    assert "Target" in view.panel.target.text() and f"{100 * g.target_prob:.2f}%" in view.panel.target.text()
    assert "Completeness" in view.panel.scores.text() and "layer 0" in view.panel.shares.text()

    catalog = win.controller.model.catalog
    loaded = max((i for i, n in enumerate(g.nodes) if n.kind is NodeKind.FEATURE and n.layer == 1),
                 key=lambda i: abs(g.nodes[i].effect))
    node = g.nodes[loaded]
    tip = view.scene.items_by_index[loaded].toolTip()
    assert catalog.label(node.feature) in tip and "top contexts" in tip and f"{node.effect:+.3f}" in tip
    assert "«" not in tip and "<b>" in tip  # the strongest token of a context in bold
    click_node(qtbot, view, loaded)
    assert view.panel.node == node and view.scene.selected == loaded
    assert win.controller.features.selected == node.feature and win.docks["detail"].isVisible()  # its dashboard
    assert view.panel.ablate_btn.isEnabled() and view.panel.steer.value() == pytest.approx(node.activation, abs=1e-3)

    qtbot.mouseClick(view.panel.ablate_btn, Qt.LeftButton)
    qtbot.waitUntil(lambda: not view.run.edit.running, timeout=60_000)
    got = view.run.edit.result
    assert got is not None and got.node == node.key, view.run.edit.error
    _graph, state = worker_state(win, g)
    want = set_activations(state, [node], [0.0])[0]
    assert got.actual == pytest.approx(want.actual, abs=1e-4)
    assert got.predicted == pytest.approx(want.predicted, abs=1e-4)
    text = view.panel.effect.text()
    assert "ablated" in text and f"predicted Δ {got.predicted:+.3f}" in text and f"actual Δ {got.actual:+.3f}" in text

    view.panel.steer.setValue(2.5)
    qtbot.mouseClick(view.panel.apply_btn, Qt.LeftButton)
    qtbot.waitUntil(lambda: not view.run.edit.running, timeout=60_000)
    steered = set_activations(state, [node], [2.5])[0]
    assert view.run.edit.result.actual == pytest.approx(steered.actual, abs=1e-4)
    assert "set to 2.5" in view.panel.effect.text()

    depth0 = next(i for i, n in enumerate(g.nodes) if n.kind is NodeKind.FEATURE and n.layer == 0)
    win.controller.features.select(0)
    click_node(qtbot, view, depth0)  # a depth SAE's feature: selected here, no dashboard
    assert view.scene.selected == depth0 and win.controller.features.selected == 0
    assert not view.panel.dashboard_btn.isEnabled()
    error = next(i for i, n in enumerate(g.nodes) if n.kind is NodeKind.ERROR)
    click_node(qtbot, view, error)
    assert not view.panel.ablate_btn.isEnabled()  # only feature nodes can be set


def test_alternative_token_recomputes_and_exports(answered, qtbot, tmp_path):
    win, res = answered
    href, pos = token_anchors(win.chat.main_view)[0]
    qtbot.mouseClick(win.chat.main_view.viewport(), Qt.LeftButton, Qt.ControlModifier, anchor_point(win, pos))
    view = win.graph_view  # Ctrl+click: "Why this token?"
    assert view is not None
    wait_graph(qtbot, view)
    g = view.run.shown.graph
    assert g.token_ids == res.prompt_ids and g.target_id == res.answer_ids[0]
    combo = view.panel.alt
    assert combo.count() >= 2 and combo.itemData(0) is None
    alt = combo.itemData(1)
    combo.setCurrentIndex(1)
    combo.activated.emit(1)  # as a user's choice
    assert view.run.running
    wait_graph(qtbot, view)
    g2 = view.run.shown.graph
    assert g2.alt_id == alt and g2.target_id == g.target_id and g2.token_ids == g.token_ids
    assert g2.target_value != pytest.approx(g.target_value)
    assert "−" in view.panel.target.text() and combo.currentData() == alt
    combo.activated.emit(0)  # back to the target's logit alone
    wait_graph(qtbot, view)
    assert view.run.shown.graph.alt_id is None

    out = view.export_json(tmp_path / "out" / "graph.json")
    doc = json.loads(out.read_text(encoding="utf-8"))
    shown = view.run.shown
    assert [n["node_id"] for n in doc["nodes"]] == [n.key for n in shown.graph.nodes]
    assert from_json(doc).nodes == shown.graph.nodes
    labels = {n["node_id"]: n["clerp"] for n in doc["nodes"]}
    f1 = next(n for n in shown.graph.nodes if n.kind is NodeKind.FEATURE and n.layer == 1)
    assert labels[f1.key] == win.controller.model.catalog.label(f1.feature)

    png = view.export_png(tmp_path / "out" / "graph.png")
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    img = QImage(str(png))
    assert img.width() > 400 and img.height() > 200
    colours = {img.pixel(x, y) for x in range(0, img.width(), 7) for y in range(0, img.height(), 7)}
    assert len(colours) > 10  # a drawing, not a blank canvas
    assert sorted(p.name for p in png.parent.iterdir()) == ["graph.json", "graph.png"]  # no temporary files left


def test_stop_mid_graph_leaves_the_app_usable(make_window, depth_sae, qtbot, monkeypatch):
    win = make_window(tiny.make_loader(depth_sae))
    set_sampling(win, max_new_tokens=4)
    assert win.why_this_token() is None and "Ask something first" in win.status.message.text()
    ask(qtbot, win, "hello world")
    import desktop_sae.core.attribution.attribute as attribute

    fast = attribute.edges_between

    def slow(*a, **kw):
        time.sleep(0.6)
        return fast(*a, **kw)

    monkeypatch.setattr(attribute, "edges_between", slow)
    win.menu_actions.why.trigger()
    view = win.graph_view
    qtbot.waitUntil(lambda: view.run.message.startswith("edges"), timeout=60_000)
    assert view.stop_btn.isEnabled() and not view.png_btn.isEnabled()
    qtbot.mouseClick(view.stop_btn, Qt.LeftButton)
    qtbot.waitUntil(lambda: not view.run.running, timeout=60_000)
    assert view.status.text().startswith("Stopped") and view.run.shown is None
    assert not view.stop_btn.isEnabled()

    monkeypatch.setattr(attribute, "edges_between", fast)
    win.chat.input.setPlainText("how are you")  # the chat still answers (the Send button: the view is on top)
    qtbot.mouseClick(win.chat.send_btn, Qt.LeftButton)
    assert win.controller.conversation.busy
    qtbot.waitUntil(lambda: not win.controller.conversation.busy, timeout=120_000)
    win.menu_actions.why.trigger()  # and the next graph completes
    wait_graph(qtbot, view)
    assert view.run.shown is not None and view.status.text().startswith("Done")
    view.close()
    win.menu_actions.why.trigger()  # reopened (the same view), computing again
    assert win.graph_view is view and view.isVisible()
    wait_graph(qtbot, view)
